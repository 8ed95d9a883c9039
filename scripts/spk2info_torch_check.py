#!/usr/bin/env python3
"""Interop checks of the voice store with PyTorch (optional: needs python3-torch).

  spk2info_torch_check.py make OUT.pt   writes a spk2info.pt the way CosyVoice's save_spkinfo
                                        does (torch.save of {id: add_zero_shot_spk dict}) plus
                                        OUT.json with the values cosyflow must read
                                        (tests/fixtures/voices/spk2info_torch.pt was made so)
  spk2info_torch_check.py check FILE    loads a store written by `cosyflow voice add` with
                                        torch.load(weights_only=True), checks every entry's keys,
                                        dtypes and shapes, and saves it back with one more voice
                                        (which `cosyflow voice list` must then show)
"""
import json
import sys

import torch

KEYS = ["prompt_text", "prompt_text_len", "llm_prompt_speech_token", "llm_prompt_speech_token_len",
        "flow_prompt_speech_token", "flow_prompt_speech_token_len", "prompt_speech_feat",
        "prompt_speech_feat_len", "llm_embedding", "flow_embedding"]


def make(out):
    torch.manual_seed(7)
    spk, exp = {}, {}
    for name, lp, t in [("speaker_a", 9, 12), ("语音.b", 5, 7)]:
        text = torch.randint(0, 151000, (1, lp), dtype=torch.int32)
        tok = torch.randint(0, 6561, (1, t), dtype=torch.int32)
        feat = torch.randn(1, 2 * t, 80)
        emb = torch.randn(1, 192)
        i32 = lambda n: torch.tensor([n], dtype=torch.int32)
        spk[name] = {"prompt_text": text, "prompt_text_len": i32(lp),
                     "llm_prompt_speech_token": tok, "llm_prompt_speech_token_len": i32(t),
                     "flow_prompt_speech_token": tok, "flow_prompt_speech_token_len": i32(t),
                     "prompt_speech_feat": feat, "prompt_speech_feat_len": i32(2 * t),
                     "llm_embedding": emb, "flow_embedding": emb}
        exp[name] = {"prompt_text": text.flatten().tolist(), "tokens": tok.flatten().tolist(),
                     "feat_sum": float(feat.double().sum()), "feat_first": feat.flatten()[:5].tolist(),
                     "embedding": emb.flatten().tolist()}
    spk["sft_speaker"] = {"embedding": torch.randn(1, 192)}
    exp["sft_speaker"] = {"embedding": spk["sft_speaker"]["embedding"].flatten().tolist()}
    torch.save(spk, out)
    with open(out.replace(".pt", ".json"), "w") as f:
        json.dump(exp, f, ensure_ascii=False)


def check(path):
    d = torch.load(path, weights_only=True)
    for name, entry in d.items():
        if "embedding" in entry and "prompt_text" not in entry:
            assert entry["embedding"].shape == (1, 192), name
            continue
        assert list(entry.keys()) == KEYS, (name, list(entry.keys()))
        t = entry["llm_prompt_speech_token"].shape[1]
        assert entry["prompt_speech_feat"].shape == (1, 2 * t, 80), name
        assert entry["prompt_text"].dtype == torch.int32, name
        assert int(entry["llm_prompt_speech_token_len"][0]) == t, name
        assert entry["flow_embedding"].shape == (1, 192), name
        print(f"{name}: ok ({t} prompt tokens)")
    first = next(iter(d))
    d[first + "_copy_by_torch"] = {k: v.clone() for k, v in d[first].items()}
    torch.save(d, path)
    print(f"saved back with '{first}_copy_by_torch'")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else check)(sys.argv[2])
