/* cosyflow C API: text-to-speech through a cosyflow graph file, for embedding from C and any
 * language with a C FFI. A thin adapter over the C++ Pipeline API (graph/pipeline.h).
 *
 * Usage:
 *
 *   static int on_audio(const float* samples, size_t n, int sample_rate, void* user) {
 *     fwrite(samples, sizeof(float), n, (FILE*)user);  // 24 kHz mono f32, chunk by chunk
 *     return 0;                                        // nonzero cancels the request
 *   }
 *
 *   char err[512];
 *   cosyflow_engine_params ep = cosyflow_engine_default_params();
 *   ep.graph_path = "configs/tts.json";
 *   ep.model_dir = "pretrained_models/CosyVoice2-0.5B";
 *   cosyflow_engine* engine = cosyflow_engine_create(&ep, err, sizeof err);
 *   if (!engine) { fprintf(stderr, "%s\n", err); return 1; }
 *
 *   cosyflow_request_params rp = cosyflow_request_default_params();
 *   rp.on_audio = on_audio;
 *   rp.user = stdout;
 *   if (cosyflow_synthesize(engine, "Hello world.", &rp, err, sizeof err) != COSYFLOW_OK) ...
 *
 *   // Text arriving in pieces (an upstream chat LLM): the graph must accept bi-stream text
 *   // (engine params stream_text = 1).
 *   cosyflow_session* s = cosyflow_session_open(engine, &rp, err, sizeof err);
 *   cosyflow_session_push_text(s, "Hello ", err, sizeof err);
 *   cosyflow_session_push_text(s, "world.", err, sizeof err);
 *   cosyflow_session_finish(s, err, sizeof err);  // ends the text, waits, frees s
 *
 *   cosyflow_engine_free(engine);
 *
 * Threading: an engine serves many requests at once from any threads; a session handle belongs
 * to one thread at a time. on_audio runs on an engine worker thread, in order per request, and
 * must not block for long. Errors: functions return COSYFLOW_OK (0) or a negative code and, when
 * `err` is not NULL, write a NUL-terminated message of at most err_len bytes: the error on
 * failure, the empty string on success. No function aborts or throws on bad input. A request
 * whose text yields no audio (empty or punctuation-only) ends with COSYFLOW_ERR_INVALID_ARGUMENT.
 */
#ifndef COSYFLOW_COSYFLOW_H_
#define COSYFLOW_COSYFLOW_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define COSYFLOW_API __attribute__((visibility("default")))
#else
#define COSYFLOW_API
#endif

enum {
  COSYFLOW_OK = 0,
  COSYFLOW_ERR_INVALID_ARGUMENT = -1, /* bad parameter, graph file or text */
  COSYFLOW_ERR_NOT_FOUND = -2,        /* graph file, weights or other file missing */
  COSYFLOW_ERR_CANCELLED = -3,        /* the request was cancelled */
  COSYFLOW_ERR_FAILED = -4            /* any other failure (message in err) */
};

typedef struct cosyflow_engine cosyflow_engine;
typedef struct cosyflow_session cosyflow_session;

typedef struct {
  const char* graph_path; /* graph JSON file (configs/tts.json, ...); required */
  const char* model_dir;  /* NULL or "": the graph file's model_dir */
  int threads;            /* compute threads (limits.threads); 0 = the graph's / all cores */
  int stream_text;        /* 1: text arrives in chunks (bi-stream sessions); 0: whole texts */
  int64_t seed;           /* vocoder noise seed (HiftVocoder.seed; session s uses seed + s), as
                             `cosyflow synth --seed`; -1 = the graph's */
} cosyflow_engine_params;

/* Called for each audio chunk as soon as it exists; return nonzero to cancel the request. */
typedef int (*cosyflow_audio_callback)(const float* samples, size_t n, int sample_rate,
                                       void* user);

typedef struct {
  const char* mode;      /* NULL/"": the graph's LM mode; else zero_shot, cross_lingual, ... */
  uint64_t seed;         /* sampling seed; 0 = the graph's */
  cosyflow_audio_callback on_audio; /* may be NULL (audio discarded) */
  void* user;            /* passed to on_audio */
  /* The voice (docs/voices.md); every field NULL/0 = the graph's default voice. */
  const char* voice;         /* a voice id of the graph's voice store */
  /* At most one of voice, prompt_wav and prompt_samples (else COSYFLOW_ERR_INVALID_ARGUMENT). */
  const char* prompt_wav;      /* a prompt recording file (16-768 kHz, <= 30 s) ... */
  const float* prompt_samples; /* ... or its mono samples in [-1, 1] */
  size_t prompt_samples_len;   /* 0 exactly when prompt_samples is NULL */
  int prompt_sample_rate;      /* Hz, 16000-768000, with prompt_samples */
  const char* prompt_text;   /* transcript of the prompt recording (zero_shot) */
  const char* instruct_text; /* instruct2: the instruction */
  const char* source_wav;    /* vc: the recording to convert (mode "vc") */
  float speed;               /* 1 = normal; != 1 runs the flow non-streaming for this request */
} cosyflow_request_params;

COSYFLOW_API const char* cosyflow_version(void); /* e.g. "cosyflow 0.1.0 (kernels avx2 ...)" */

COSYFLOW_API cosyflow_engine_params cosyflow_engine_default_params(void);
COSYFLOW_API cosyflow_request_params cosyflow_request_default_params(void);

/* Loads the graph and its models; NULL on error (message in err), also for a graph that is
   not text to speech (it needs one TextRequest input and an Audio output). */
COSYFLOW_API cosyflow_engine* cosyflow_engine_create(const cosyflow_engine_params* params,
                                                     char* err, size_t err_len);
/* Waits for running requests, then frees the engine. NULL is ignored. */
COSYFLOW_API void cosyflow_engine_free(cosyflow_engine* engine);

/* One whole text; blocks until its audio has been delivered through on_audio. params NULL: the
 * defaults (cosyflow_request_default_params), so no audio callback. */
COSYFLOW_API int cosyflow_synthesize(cosyflow_engine* engine, const char* text,
                                     const cosyflow_request_params* params, char* err,
                                     size_t err_len);

/* Bi-stream requests (engine created with stream_text = 1); params NULL as above. */
COSYFLOW_API cosyflow_session* cosyflow_session_open(cosyflow_engine* engine,
                                                     const cosyflow_request_params* params,
                                                     char* err, size_t err_len);
COSYFLOW_API int cosyflow_session_push_text(cosyflow_session* session, const char* text_chunk,
                                            char* err, size_t err_len);
/* Stops synthesis within one node step (barge-in); finish still has to be called. */
COSYFLOW_API int cosyflow_session_cancel(cosyflow_session* session);
/* Ends the text, waits for the remaining audio and frees the session (also after an error). */
COSYFLOW_API int cosyflow_session_finish(cosyflow_session* session, char* err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* COSYFLOW_COSYFLOW_H_ */
