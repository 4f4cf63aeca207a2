"""Oracle for the model families beyond Llama: tiny random checkpoints made by transformers itself, and
their logits, so lowbit's forward passes are checked against the reference implementation.

Run from the repository root on the device machine (see ../shared/device/README.md):
    python3 scripts/oracle/families_oracle.py $OUT
Writes, for each case, $OUT/families/<case>/ holding config.json and model.safetensors exactly as
save_pretrained writes them (weights rounded to bf16 and saved as bf16, as checkpoints ship), and
logits.safetensors: the f32 and f64 logits of a fixed token sequence at a few positions, for two
sequence lengths (one within and one past every window, original context or rope threshold).
Vocabulary 4096 = kdoc-6m's tokenizer, so the tests can tokenize text for these models.
Computation on the CPU, eager attention, no TF32.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

out_dir = os.path.join(sys.argv[1], "families")
VOCAB = 4096
LENGTHS = [24, 48]
POSITIONS = [0, 1, 15, 16, 17, 23, 31, 32, 47]

common = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128)
half = 64 // 4 // 2  # rotary frequencies per head

CASES = {
    # Phi-3 mini 4k: fused qkv_proj and gate_up_proj, no rope scaling.
    "phi3": ("Phi3ForCausalLM", lambda: transformers.Phi3Config(
        **common, intermediate_size=96, num_key_value_heads=2, pad_token_id=0, tie_word_embeddings=False,
    )),
    # Phi-3 128k: longrope with short/long factors past original_max_position_embeddings (32 here).
    "phi3-longrope": ("Phi3ForCausalLM", lambda: transformers.Phi3Config(
        **common, intermediate_size=96, num_key_value_heads=4, pad_token_id=0, tie_word_embeddings=False,
        original_max_position_embeddings=32,
        rope_scaling={
            "type": "longrope",
            "short_factor": [1.0 + 0.05 * i for i in range(half)],
            "long_factor": [1.0 + 0.9 * i for i in range(half)],
        },
    )),
    # Mixtral: 4 experts, top-2 routing.
    "mixtral": ("MixtralForCausalLM", lambda: transformers.MixtralConfig(
        **common, intermediate_size=64, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
        tie_word_embeddings=False, sliding_window=None,
    )),
    # OPT with project_in/project_out (word_embed_proj_dim != hidden) and pre-LayerNorm (OPT >= 1.3b).
    "opt": ("OPTForCausalLM", lambda: transformers.OPTConfig(
        vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, ffn_dim=128,
        max_position_embeddings=128, word_embed_proj_dim=32, do_layer_norm_before=True, pad_token_id=1,
    )),
    # OPT-350m style: post-LayerNorm, projections, no final layer norm.
    "opt-postln": ("OPTForCausalLM", lambda: transformers.OPTConfig(
        vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, ffn_dim=128,
        max_position_embeddings=128, word_embed_proj_dim=32, do_layer_norm_before=False, pad_token_id=1,
    )),
    # Qwen2 with sliding-window attention on the layers from max_window_layers on, tied embeddings.
    "qwen2-sliding": ("Qwen2ForCausalLM", lambda: transformers.Qwen2Config(
        **common, intermediate_size=96, num_key_value_heads=2, use_sliding_window=True, sliding_window=16,
        max_window_layers=1, tie_word_embeddings=True,
    )),
}

torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(20261124)
g = torch.Generator().manual_seed(7)
ids = torch.randint(0, VOCAB, (max(LENGTHS),), generator=g)
summary = {"producer": "scripts/oracle/families_oracle.py", "transformers": transformers.__version__, "torch": torch.__version__, "cases": {}}

def write_hub_moe(model, d):
    """Mixtral as the Hub ships it (block_sparse_moe.gate, experts.<e>.w1/w2/w3), whatever layout this
    transformers version saves: real checkpoints have that layout, so lowbit must read it."""
    from safetensors import safe_open
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        if any(".block_sparse_moe.experts.0.w1.weight" in k for k in f.keys()):
            return
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    out = {}
    for k, v in state.items():
        if ".mlp.experts." in k or ".mlp.gate." in k:
            continue
        out[k] = v
    for i, layer in enumerate(model.model.layers):
        moe = getattr(layer, "mlp", None) or layer.block_sparse_moe
        p = f"model.layers.{i}.block_sparse_moe."
        out[p + "gate.weight"] = moe.gate.weight.detach().to(torch.bfloat16).contiguous()
        gate_up, down = moe.experts.gate_up_proj.detach(), moe.experts.down_proj.detach()
        inter = gate_up.shape[1] // 2
        for e in range(gate_up.shape[0]):
            out[p + f"experts.{e}.w1.weight"] = gate_up[e, :inter].to(torch.bfloat16).contiguous()
            out[p + f"experts.{e}.w3.weight"] = gate_up[e, inter:].to(torch.bfloat16).contiguous()
            out[p + f"experts.{e}.w2.weight"] = down[e].to(torch.bfloat16).contiguous()
    save_file(out, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})


def run_case(name, arch, config):
    cls = getattr(transformers, arch)
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            # Larger than the default init so the logits are not flat: the test must see real differences.
            p.copy_((p * 4 if p.dim() > 1 else p + 0.1 * torch.randn_like(p)).to(torch.bfloat16).to(torch.float32))
    d = os.path.join(out_dir, name)
    with torch.no_grad():
        in_memory = model(ids[None]).logits[0].to(torch.float64)
    model.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
    if arch == "MixtralForCausalLM":
        write_hub_moe(model, d)
    tensors = {"ids": ids.to(torch.int32), "positions": torch.tensor(POSITIONS, dtype=torch.int32)}
    reference = {}
    for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
        try:
            m = cls.from_pretrained(d, dtype=dtype, attn_implementation="eager").eval()
            with torch.no_grad():
                for n in LENGTHS:
                    reference[f"{n}_{tag}"] = m(ids[:n][None]).logits[0].to(torch.float64)
        except RuntimeError as e:  # e.g. MoE grouped matmuls have no f64 kernel
            print(name, tag, "skipped:", e, flush=True)
    # The file as saved (and, for Mixtral, rewritten in the Hub's layout) must be the model that was made.
    reload_diff = ((reference[f"{LENGTHS[-1]}_f32"] - in_memory).abs().max() / in_memory.abs().max()).item()
    assert reload_diff < 1e-5, f"{name}: the saved checkpoint does not reproduce the model ({reload_diff})"
    for n in LENGTHS:
        keep = [p for p in POSITIONS if p < n]
        tensors[f"logits{n}"] = reference[f"{n}_f32"][keep].to(torch.float32).contiguous()
    save_file(tensors, os.path.join(d, "logits.safetensors"))
    rel = max(
        ((reference[f"{n}_f32"] - reference[f"{n}_f64"]).abs().max() / reference[f"{n}_f64"].abs().max()).item()
        for n in LENGTHS if f"{n}_f64" in reference
    ) if f"{LENGTHS[0]}_f64" in reference else None
    from safetensors import safe_open
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        stored = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    summary["cases"][name] = {
        "architecture": arch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "f32_vs_f64_logit_rel_diff": rel,
        "saved_vs_in_memory_logit_rel_diff": reload_diff,
        "config": json.load(open(os.path.join(d, "config.json"))),
        "tensors": stored,
    }
    print(name, summary["cases"][name]["parameters"], rel, flush=True)


for name, (arch, make_config) in CASES.items():
    if len(sys.argv) > 2 and name not in sys.argv[2:]:
        continue
    try:
        run_case(name, arch, make_config())
    except Exception as e:  # one broken case must not cost the others (one device call makes them all)
        import traceback
        traceback.print_exc()
        summary["cases"][name] = {"error": repr(e)}

json.dump(summary, open(os.path.join(out_dir, "families.json"), "w"), indent=2)
# The device hands back a handful of files: one archive of them all.
os.system(f"cd {sys.argv[1]} && rm -f families/*/generation_config.json && tar czf families.tgz families && rm -rf families")
