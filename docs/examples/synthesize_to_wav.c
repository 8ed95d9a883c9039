/* Text to a WAV file through the cosyflow C API (include/cosyflow/cosyflow.h), writing each
 * audio chunk as the engine makes it (streaming callback); the header's sizes are filled in at
 * the end. With the same seed the audio is `cosyflow synth --seed SEED`'s (tests/examples: within
 * one 16-bit step, as libsndfile there rounds down where this rounds to nearest).
 *
 *   cc synthesize_to_wav.c -Iinclude -Lbuild/apps -lcosyflow -o synthesize_to_wav
 *   ./synthesize_to_wav configs/tts.json out.wav "Hello there." [MODEL_DIR] [SEED]
 *
 * Prints one JSON line: {"samples": N, "sample_rate": R, "chunks": K, "first_chunk_samples": F}. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cosyflow/cosyflow.h"

typedef struct {
  FILE* file;
  size_t samples;
  size_t first_chunk_samples;
  int chunks;
  int sample_rate;
  int write_failed;
} WavSink;

static void Put16(FILE* f, uint16_t v) {
  fputc(v & 0xFF, f);
  fputc(v >> 8, f);
}

static void Put32(FILE* f, uint32_t v) {
  Put16(f, (uint16_t)(v & 0xFFFF));
  Put16(f, (uint16_t)(v >> 16));
}

/* 44-byte PCM s16 mono header; called again at the end with the real sizes. */
static void WriteHeader(FILE* f, int rate, uint32_t data_bytes) {
  fwrite("RIFF", 1, 4, f);
  Put32(f, 36 + data_bytes);
  fwrite("WAVEfmt ", 1, 8, f);
  Put32(f, 16);
  Put16(f, 1); /* PCM */
  Put16(f, 1); /* mono */
  Put32(f, (uint32_t)rate);
  Put32(f, (uint32_t)rate * 2);
  Put16(f, 2);
  Put16(f, 16);
  fwrite("data", 1, 4, f);
  Put32(f, data_bytes);
}

/* Runs on an engine thread for every chunk, in order, as soon as it exists. */
static int OnAudio(const float* samples, size_t n, int sample_rate, void* user) {
  WavSink* sink = (WavSink*)user;
  size_t i;
  if (sink->chunks == 0) {
    sink->sample_rate = sample_rate;
    sink->first_chunk_samples = n;
    WriteHeader(sink->file, sample_rate, 0);
  }
  for (i = 0; i < n; ++i) {
    /* s16 as the HTTP door's pcm/wav: clipped to [-1, 1], scaled by 32767, rounded. */
    float x = samples[i] < -1.0f ? -1.0f : samples[i] > 1.0f ? 1.0f : samples[i];
    Put16(sink->file, (uint16_t)(int16_t)lrintf(x * 32767.0f));
  }
  sink->samples += n;
  ++sink->chunks;
  if (ferror(sink->file)) {
    sink->write_failed = 1;
    return 1; /* nonzero cancels the request */
  }
  return 0;
}

int main(int argc, char** argv) {
  char err[1024];
  WavSink sink = {NULL, 0, 0, 0, 0, 0};
  cosyflow_engine_params ep = cosyflow_engine_default_params();
  cosyflow_request_params rp = cosyflow_request_default_params();
  cosyflow_engine* engine;
  int rc;
  if (argc < 4 || argc > 6) {
    fprintf(stderr, "usage: %s GRAPH OUT.wav TEXT [MODEL_DIR] [SEED]\n", argv[0]);
    return 2;
  }
  ep.graph_path = argv[1];
  if (argc > 4 && argv[4][0] != '\0') ep.model_dir = argv[4];
  if (argc > 5) {
    /* As `cosyflow synth --seed`: the vocoder noise and the LM sampling seed. */
    ep.seed = strtoll(argv[5], NULL, 10);
    rp.seed = (uint64_t)ep.seed;
  }
  engine = cosyflow_engine_create(&ep, err, sizeof err);
  if (engine == NULL) {
    fprintf(stderr, "synthesize_to_wav: %s\n", err);
    return 1;
  }
  sink.file = fopen(argv[2], "wb");
  if (sink.file == NULL) {
    perror(argv[2]);
    cosyflow_engine_free(engine);
    return 1;
  }
  rp.on_audio = OnAudio;
  rp.user = &sink;
  rc = cosyflow_synthesize(engine, argv[3], &rp, err, sizeof err);
  cosyflow_engine_free(engine);
  if (rc == COSYFLOW_OK && sink.chunks == 0) {
    snprintf(err, sizeof err, "no audio");
    rc = COSYFLOW_ERR_FAILED;
  }
  if (rc == COSYFLOW_OK) { /* the sizes, now that they are known */
    rewind(sink.file);
    WriteHeader(sink.file, sink.sample_rate, (uint32_t)(sink.samples * 2));
  }
  if (fclose(sink.file) != 0 || sink.write_failed) {
    fprintf(stderr, "synthesize_to_wav: cannot write %s\n", argv[2]);
    return 1;
  }
  if (rc != COSYFLOW_OK) {
    fprintf(stderr, "synthesize_to_wav: %s (code %d)\n", err, rc);
    remove(argv[2]);
    return 1;
  }
  printf("{\"samples\": %zu, \"sample_rate\": %d, \"chunks\": %d, \"first_chunk_samples\": %zu}\n",
         sink.samples, sink.sample_rate, sink.chunks, sink.first_chunk_samples);
  return 0;
}
