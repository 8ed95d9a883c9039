/* Tests of the C API (include/cosyflow/cosyflow.h), written in C so the header is checked as C:
 * whole-text synthesis on the tiny test model, bi-stream sessions, cancel from the audio
 * callback, and clear errors for bad arguments and files.
 * Usage: cosyflow_capi_test TTS_TINY_GRAPH MODEL_DIR */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cosyflow/cosyflow.h"

static int g_failed = 0, g_passed = 0;
#define CHECK(cond)                                                 \
  do {                                                              \
    if (cond) {                                                     \
      ++g_passed;                                                   \
    } else {                                                        \
      ++g_failed;                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                               \
  } while (0)

typedef struct {
  size_t samples;
  int chunks;
  int rate;
  int cancel_after; /* > 0: ask to cancel at this chunk */
} Sink;

static int OnAudio(const float* samples, size_t n, int sample_rate, void* user) {
  Sink* s = (Sink*)user;
  (void)samples;
  s->samples += n;
  s->rate = sample_rate;
  ++s->chunks;
  return s->cancel_after > 0 && s->chunks >= s->cancel_after;
}

/* Success leaves err empty (cosyflow.h): MarkStale(err) before a call, then CHECK(err[0] == 0). */
static void MarkStale(char* err) { strcpy(err, "stale"); }

int main(int argc, char** argv) {
  char err[512];
  if (argc != 3) {
    fprintf(stderr, "usage: %s TTS_TINY_GRAPH MODEL_DIR\n", argv[0]);
    return 2;
  }
  CHECK(strstr(cosyflow_version(), "cosyflow") != NULL);

  /* Bad arguments and files: NULL, never a crash. */
  cosyflow_engine_params ep = cosyflow_engine_default_params();
  CHECK(cosyflow_engine_create(&ep, err, sizeof err) == NULL);
  CHECK(strstr(err, "graph_path") != NULL);
  ep.graph_path = "/nonexistent/graph.json";
  CHECK(cosyflow_engine_create(&ep, err, sizeof err) == NULL);
  CHECK(strstr(err, "/nonexistent/graph.json") != NULL);
  CHECK(cosyflow_synthesize(NULL, "x", NULL, err, sizeof err) == COSYFLOW_ERR_INVALID_ARGUMENT);
  {
    /* A graph that takes no text (configs/resample_stream.json beside the TTS graph) is refused
       at create time, not at every request. */
    char other[4096];
    const char* slash = strrchr(argv[1], '/');
    const size_t dir = slash != NULL ? (size_t)(slash - argv[1]) + 1 : 0;
    if (dir + 32 < sizeof other) {
      memcpy(other, argv[1], dir);
      strcpy(other + dir, "resample_stream.json");
      ep.graph_path = other;
      CHECK(cosyflow_engine_create(&ep, err, sizeof err) == NULL);
      CHECK(strstr(err, "not a text-to-speech graph") != NULL);
    }
  }

  /* Whole text. */
  ep.graph_path = argv[1];
  ep.model_dir = argv[2];
  ep.threads = 2;
  MarkStale(err);
  cosyflow_engine* engine = cosyflow_engine_create(&ep, err, sizeof err);
  if (engine == NULL) fprintf(stderr, "engine: %s\n", err);
  CHECK(engine != NULL);
  CHECK(err[0] == '\0');
  if (engine != NULL) {
    Sink sink = {0, 0, 0, 0};
    cosyflow_request_params rp = cosyflow_request_default_params();
    rp.on_audio = OnAudio;
    rp.user = &sink;
    rp.seed = 7;
    MarkStale(err);
    int rc = cosyflow_synthesize(engine, "Hello world. This is cosyflow.", &rp, err, sizeof err);
    if (rc != COSYFLOW_OK) fprintf(stderr, "synthesize: %s\n", err);
    CHECK(rc == COSYFLOW_OK);
    CHECK(err[0] == '\0');
    CHECK(sink.samples > 0 && sink.samples % 960 == 0); /* 960 samples per speech token */
    CHECK(sink.rate == 24000);
    /* The same request again gives the same length (same seed). */
    Sink again = {0, 0, 0, 0};
    rp.user = &again;
    CHECK(cosyflow_synthesize(engine, "Hello world. This is cosyflow.", &rp, err, sizeof err) ==
          COSYFLOW_OK);
    CHECK(again.samples == sink.samples);
    /* Cancel from the callback at the first chunk. */
    Sink cancel = {0, 0, 0, 1};
    rp.user = &cancel;
    rc = cosyflow_synthesize(engine, "Hello world. This is cosyflow.", &rp, err, sizeof err);
    CHECK(rc == COSYFLOW_ERR_CANCELLED);
    CHECK(cancel.chunks == 1);
    /* A whole-text engine refuses sessions, clearly. */
    CHECK(cosyflow_session_open(engine, &rp, err, sizeof err) == NULL);
    CHECK(strstr(err, "stream_text") != NULL);
    /* NULL params: the defaults (no audio callback), not zeroed fields (speed 0 was refused) */
    rc = cosyflow_synthesize(engine, "Hello world.", NULL, err, sizeof err);
    if (rc != COSYFLOW_OK) fprintf(stderr, "NULL params: %s\n", err);
    CHECK(rc == COSYFLOW_OK);
    CHECK(cosyflow_synthesize(engine, NULL, &rp, err, sizeof err) ==
          COSYFLOW_ERR_INVALID_ARGUMENT);
    /* Text that yields no audio is an error, as in `cosyflow synth` and the serving doors. */
    CHECK(cosyflow_synthesize(engine, "", NULL, err, sizeof err) == COSYFLOW_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err, "produced no audio") != NULL);
    CHECK(cosyflow_synthesize(engine, "...", NULL, err, sizeof err) ==
          COSYFLOW_ERR_INVALID_ARGUMENT);

    /* Voices: a prompt recording file + transcript (zero_shot), raw samples (cross_lingual),
       an unknown stored voice, samples below 16 kHz. */
    char wav[1024];
    snprintf(wav, sizeof wav, "%s/../frontend-tiny/en/prompt.wav", argv[2]);
    Sink zs = {0, 0, 0, 0};
    cosyflow_request_params vp = cosyflow_request_default_params();
    vp.on_audio = OnAudio;
    vp.user = &zs;
    vp.seed = 7;
    vp.prompt_wav = wav;
    vp.prompt_text = "Hello, this is a short prompt for voice cloning.";
    rc = cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err);
    if (rc != COSYFLOW_OK) fprintf(stderr, "zero_shot: %s\n", err);
    CHECK(rc == COSYFLOW_OK);
    CHECK(zs.samples > 0 && zs.samples % 960 == 0);
    static float pcm[16000 * 2];
    for (int i = 0; i < 16000 * 2; ++i) {
      pcm[i] = 0.3f * sinf(0.07f * (float)i) * (0.5f + 0.5f * sinf(0.0009f * (float)i)) +
               0.05f * sinf(0.31f * (float)i);
    }
    Sink cl = {0, 0, 0, 0};
    vp = cosyflow_request_default_params();
    vp.on_audio = OnAudio;
    vp.user = &cl;
    vp.mode = "cross_lingual";
    vp.prompt_samples = pcm;
    vp.prompt_samples_len = 16000 * 2;
    vp.prompt_sample_rate = 16000;
    rc = cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err);
    if (rc != COSYFLOW_OK) fprintf(stderr, "cross_lingual: %s\n", err);
    CHECK(rc == COSYFLOW_OK);
    CHECK(cl.samples > 0);
    vp.prompt_sample_rate = 8000;
    CHECK(cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err) != COSYFLOW_OK);
    CHECK(strstr(err, "16000") != NULL || strstr(err, "16 kHz") != NULL);
    /* Samples and their length must agree; a recording file and samples together are refused. */
    vp.prompt_sample_rate = 16000;
    vp.prompt_samples = NULL;
    CHECK(cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err) ==
          COSYFLOW_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err, "prompt_samples is NULL but prompt_samples_len is 32000") != NULL);
    vp.prompt_samples = pcm;
    vp.prompt_samples_len = 0;
    CHECK(cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err) ==
          COSYFLOW_ERR_INVALID_ARGUMENT);
    vp.prompt_samples_len = 16000 * 2;
    vp.prompt_wav = wav;
    CHECK(cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err) ==
          COSYFLOW_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err, "both prompt samples and a prompt recording file") != NULL);
    vp = cosyflow_request_default_params();
    vp.voice = "nobody";
    CHECK(cosyflow_synthesize(engine, "Hello world.", &vp, err, sizeof err) ==
          COSYFLOW_ERR_NOT_FOUND);
    CHECK(strstr(err, "nobody") != NULL);
    cosyflow_engine_free(engine);
  }

  /* Bi-stream text. */
  ep.stream_text = 1;
  engine = cosyflow_engine_create(&ep, err, sizeof err);
  CHECK(engine != NULL);
  if (engine != NULL) {
    Sink sink = {0, 0, 0, 0};
    cosyflow_request_params rp = cosyflow_request_default_params();
    rp.on_audio = OnAudio;
    rp.user = &sink;
    MarkStale(err);
    cosyflow_session* s = cosyflow_session_open(engine, &rp, err, sizeof err);
    CHECK(s != NULL);
    CHECK(err[0] == '\0');
    if (s != NULL) {
      const char* chunks[] = {"Hello ", "world, ", "streamed ", "text."};
      for (int i = 0; i < 4; ++i) {
        MarkStale(err);
        CHECK(cosyflow_session_push_text(s, chunks[i], err, sizeof err) == COSYFLOW_OK);
        CHECK(err[0] == '\0');
      }
      MarkStale(err);
      int rc = cosyflow_session_finish(s, err, sizeof err);
      if (rc != COSYFLOW_OK) fprintf(stderr, "finish: %s\n", err);
      CHECK(rc == COSYFLOW_OK);
      CHECK(err[0] == '\0');
      CHECK(sink.samples > 0 && sink.samples % 960 == 0);
    }
    /* Barge-in: cancel, then finish reports the cancel. */
    Sink cut = {0, 0, 0, 0};
    rp.user = &cut;
    s = cosyflow_session_open(engine, &rp, err, sizeof err);
    CHECK(s != NULL);
    if (s != NULL) {
      CHECK(cosyflow_session_push_text(s, "Hello there, ", err, sizeof err) == COSYFLOW_OK);
      CHECK(cosyflow_session_cancel(s) == COSYFLOW_OK);
      CHECK(cosyflow_session_finish(s, err, sizeof err) == COSYFLOW_ERR_CANCELLED);
    }
    CHECK(cosyflow_synthesize(engine, "x", &rp, err, sizeof err) == COSYFLOW_ERR_INVALID_ARGUMENT);
    cosyflow_engine_free(engine);
  }
  cosyflow_engine_free(NULL);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
