#!/usr/bin/env python3
"""PyTorch yardstick for cosyflow-bench-llm on a GPU: the per-token loop of the reference's
Qwen2LM.inference at CosyVoice2-0.5B shapes, with random weights, on one device.

    bench/llm/torch_qwen2_timing.py [--device cuda] [--dtypes float32,bfloat16] [--prefill 127]
                                    [--steps 50] [--context 300]

Each step is what the reference does per speech token: the Hugging Face Qwen2ForCausalLM forward
of one position with its KV cache (the reference calls the full causal-LM model, so the unused
151936-way lm_head is computed too), then the 6564-way speech head, log-softmax and a greedy pick
read back to the host. Prefill is timed for --prefill positions; decode as the median step at
--context cached positions. Needs torch and transformers (the GPU machines' image has both);
prints one JSON object. TF32 stays off (torch's default for matmul), like cosyflow's f32 path.
"""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--prefill", type=int, default=127)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--context", type=int, default=300)
    args = ap.parse_args()
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dev = torch.device(args.device)
    cfg = Qwen2Config(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                      max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                      tie_word_embeddings=True)
    out = {"bench": "torch_qwen2", "torch": torch.__version__,
           "transformers": transformers.__version__, "device": str(dev),
           "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        for attn in ("eager", "sdpa"):
            cfg._attn_implementation = attn
            torch.manual_seed(0)
            with torch.device(dev):  # initialized on the device (fast)
                model = Qwen2ForCausalLM(cfg).to(dtype).eval()
                head = torch.nn.Linear(896, 6564).to(dtype)
                emb = torch.nn.Embedding(6564, 896).to(dtype)
            res = {}
            with torch.inference_mode():
                x = torch.randn(1, args.prefill, 896, device=dev, dtype=dtype)
                times = []
                for _ in range(3):
                    sync()
                    t0 = time.perf_counter()
                    o = model(inputs_embeds=x, use_cache=True, output_hidden_states=True)
                    logp = head(o.hidden_states[-1][:, -1]).log_softmax(-1)
                    int(logp.argmax())
                    times.append(time.perf_counter() - t0)
                res[f"prefill_{args.prefill}_s"] = min(times)
                ctx = torch.randn(1, args.context, 896, device=dev, dtype=dtype)
                o = model(inputs_embeds=ctx, use_cache=True, output_hidden_states=True)
                cache = o.past_key_values
                tok = 0
                steps = []
                for _ in range(args.steps + 1):
                    sync()
                    t0 = time.perf_counter()
                    xe = emb(torch.tensor([[tok]], device=dev))
                    o = model(inputs_embeds=xe, past_key_values=cache, use_cache=True,
                              output_hidden_states=True)
                    cache = o.past_key_values
                    logp = head(o.hidden_states[-1][:, -1]).log_softmax(-1)
                    tok = int(logp[0, :6561].argmax())
                    steps.append(time.perf_counter() - t0)
                steps = sorted(steps[1:])
                res["decode_context"] = args.context
                res["decode_ms_per_token_median"] = steps[len(steps) // 2] * 1e3
                res["decode_ms_per_token_min"] = steps[0] * 1e3
            out[f"{name}_{attn}"] = res
            del model, head, emb
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
