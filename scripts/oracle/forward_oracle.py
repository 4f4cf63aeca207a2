"""Oracle for lowbit's forward pass: Hugging Face transformers on the GPU machine.

Run from the repository root on the device machine (see ../shared/device/README.md):
    python3 scripts/oracle/forward_oracle.py assets/kdoc-6m assets/kdoc-heldout.txt $OUT
Writes to the output directory:
    oracle-logits.safetensors  logits of the first 512-token window of the held-out text at a few
                               positions (f32), plus the window's token ids
    oracle-forward.json        token count and checksum of the whole text, and the perplexity of the
                               model at seq-len 512 by the project's protocol
Computation is f32 on the CPU (no TF32 anywhere); an f64 run is reported beside it to show how
far f32 rounding alone moves the numbers.
"""
import json
import math
import sys

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM
import transformers

model_dir, text_file, out_dir = sys.argv[1:4]
SEQ = 512
POSITIONS = [0, 1, 7, 63, 255, 511]

tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
text = open(text_file, encoding="utf-8").read()
ids = tok.encode(text, add_special_tokens=False).ids
checksum = 0
for i in ids:
    checksum = (checksum * 31 + i) % 1_000_000_007

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def run(dtype):
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype, attn_implementation="eager")
    model.eval()
    windows = len(ids) // SEQ
    data = torch.tensor(ids[: windows * SEQ]).view(windows, SEQ)
    nll_sum = 0.0
    first_logits = None
    with torch.no_grad():
        for b in range(0, windows, 16):
            batch = data[b : b + 16]
            logits = model(batch).logits.to(torch.float64)
            if first_logits is None:
                first_logits = logits[0]
            logp = torch.log_softmax(logits[:, :-1, :], dim=-1)
            nll_sum += -logp.gather(-1, batch[:, 1:, None]).sum().item()
    predictions = windows * (SEQ - 1)
    return math.exp(nll_sum / predictions), nll_sum / predictions, windows, first_logits


ppl32, nll32, windows, logits32 = run(torch.float32)
ppl64, nll64, _, logits64 = run(torch.float64)
save_file(
    {
        "logits": logits32[POSITIONS].to(torch.float32).contiguous(),
        "logits_f64": logits64[POSITIONS].to(torch.float32).contiguous(),
        "positions": torch.tensor(POSITIONS, dtype=torch.int32),
        "ids": torch.tensor(ids[:SEQ], dtype=torch.int32),
    },
    f"{out_dir}/oracle-logits.safetensors",
)
rel = ((logits32 - logits64).abs().max() / logits64.abs().max()).item()
json.dump(
    {
        "producer": "scripts/oracle/forward_oracle.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "text": text_file,
        "tokens": len(ids),
        "checksum": checksum,
        "seqLen": SEQ,
        "windows": windows,
        "ppl": ppl32,
        "nll": nll32,
        "ppl_f64": ppl64,
        "f32_vs_f64_logit_rel_diff": rel,
    },
    open(f"{out_dir}/oracle-forward.json", "w"),
    indent=2,
)
print(open(f"{out_dir}/oracle-forward.json").read())
