"""Oracle for lowbit's zero-shot tasks (src/eval/tasks): per-request log-likelihoods of kdoc-6m on the
task fixtures (test/fixtures/tasks/*.jsonl, made by scripts/make-task-fixtures.ts), with the prompts
built by lm-evaluation-harness's own task files and template engine, and the model run by transformers.

The harness (lm_eval 0.4.13) is read from its wheel: its task YAMLs (with their includes and !function
hooks), `lm_eval.utils.apply_template`, and the request construction of ConfigurableTask, mirrored
below line for line (the class itself needs the `datasets` hub client, which this machine lacks).
Tokenization is the harness's `_encode_pair` on the Hugging Face tokenizer; scoring is HFLM's
`_loglikelihood_tokens` (left-truncated to the context, log-softmax, greedy check) in float32, with
the log-softmax in float64. Metrics are the harness's (acc, acc_norm by characters, perplexity).

Run on the GPU machine (see ../shared/device/README.md), with the wheel carried beside the repository:
    python3 scripts/oracle/tasks_oracle.py --wheel .oracle/lm_eval-0.4.13-py3-none-any.whl \
        --out $OUT/oracle-tasks.json --parquet-dir $OUT
It also writes arc_easy.parquet and hellaswag.parquet (pyarrow) from the same documents, so lowbit's
Parquet reading is tested on files another library wrote.
"""
import argparse
import ast
import importlib.util
import json
import math
import os
import sys
import tempfile
import types
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASK_YAMLS = {
    "piqa": "piqa/piqa.yaml",
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "winogrande": "winogrande/default.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "lambada_openai": "lambada/lambada_openai.yaml",
}


def import_harness(wheel):
    where = tempfile.mkdtemp(prefix="lm_eval-")
    zipfile.ZipFile(wheel).extractall(where)
    sys.path.insert(0, where)
    # hellaswag's utils.py imports `datasets` for a type hint only.
    sys.modules.setdefault("datasets", types.SimpleNamespace(Dataset=object))
    import lm_eval.utils as u

    # The task YAML loader (includes, !function hooks), read from its file: the lm_eval.tasks package
    # itself imports the task manager, which needs the hub client.
    spec = importlib.util.spec_from_file_location("lm_eval_yaml_loader", os.path.join(where, "lm_eval", "tasks", "_yaml_loader.py"))
    loader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader)
    u.load_yaml_config = loader.load_yaml
    return u, os.path.join(where, "lm_eval", "tasks")


class Task:
    """ConfigurableTask's doc_to_text / doc_to_target / doc_to_choice and construct_requests, zero-shot."""

    def __init__(self, utils, config, docs):
        self.u, self.config = utils, config
        if "process_docs" in config:
            # datasets.Dataset.map merges the returned columns into each document.
            docs = [{**d, **config["process_docs"](_Mapper([d]))[0]} for d in docs]
        self.docs = docs
        self.features = list(docs[0].keys())
        self.multiple_input = isinstance(self.doc_to_text(docs[0]), int)
        self.delimiter = config.get("target_delimiter", " ")

    def _resolve(self, spec, doc, kind):
        if isinstance(spec, int) or isinstance(spec, list):
            return spec
        if callable(spec):
            return spec(doc)
        if spec in self.features:
            return doc[spec]
        s = self.u.apply_template(spec, doc)
        if kind == "choice":
            return ast.literal_eval(s)
        if s.isdigit() and self.config.get("doc_to_choice") is not None:
            return ast.literal_eval(s)
        if kind == "target" and len(s) >= 2 and s[0] == "[" and s[-1] == "]":
            try:
                return ast.literal_eval(s)
            except (SyntaxError, ValueError):
                return s
        return s

    def doc_to_text(self, doc):
        return self._resolve(self.config["doc_to_text"], doc, "text")

    def doc_to_target(self, doc):
        return self._resolve(self.config["doc_to_target"], doc, "target")

    def doc_to_choice(self, doc):
        return self._resolve(self.config["doc_to_choice"], doc, "choice")

    def requests(self, doc):
        if self.config["output_type"] == "loglikelihood":
            return [(self.doc_to_text(doc), self.doc_to_target(doc))]
        choices = self.doc_to_choice(doc)
        if self.multiple_input:
            cont = self.doc_to_target(doc)
            return [(c, f"{self.delimiter}{cont}") for c in choices]
        ctx = self.doc_to_text(doc)
        return [(ctx, f"{self.delimiter}{c}") for c in choices]

    def metrics(self, doc, results):
        if self.config["output_type"] == "loglikelihood":
            ll, greedy = results[0]
            return {"perplexity": ll, "acc": int(greedy)}
        lls = np.array([r[0] for r in results])
        choices = self.doc_to_choice(doc)
        completion_len = np.array([float(len(c)) for c in choices])
        gold = self.doc_to_text(doc) if self.multiple_input else self.doc_to_target(doc)
        if isinstance(gold, str):
            gold = choices.index(gold)
        out = {"acc": 1.0 if int(np.argmax(lls)) == gold else 0.0}
        if any(m["metric"] == "acc_norm" for m in self.config["metric_list"]):
            out["acc_norm"] = 1.0 if int(np.argmax(lls / completion_len)) == gold else 0.0
        return out


class _Mapper(list):
    def map(self, fn):
        return _Mapper(fn(d) for d in self)


def encode_pair(tok, context, continuation):
    """lm_eval.api.model.TemplateLM._encode_pair (causal), with the harness's tok_encode (no special tokens)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok.encode(context + continuation, add_special_tokens=False)
    ctx = tok.encode(context, add_special_tokens=False)
    return ctx, whole[len(ctx):]


def score(model, ctx, cont, max_length, device):
    """HFLM._loglikelihood_tokens for one request: (sum log p(continuation), all greedy)."""
    import torch

    inp = (ctx + cont)[-(max_length + 1):][:-1]
    with torch.no_grad():
        logits = model(torch.tensor([inp], device=device)).logits[0].double()
    logp = torch.log_softmax(logits[-len(cont):], dim=-1)
    target = torch.tensor(cont, device=device)
    greedy = bool((logp.argmax(dim=-1) == target).all())
    return float(logp.gather(1, target[:, None]).sum()), greedy


def harness_requests(wheel):
    """Every fixture task's requests as the harness builds them: {task: [[context, continuation], ...]}."""
    utils, tasks_dir = import_harness(wheel)
    out = {}
    for name, rel in TASK_YAMLS.items():
        task = Task(utils, utils.load_yaml_config(os.path.join(tasks_dir, rel)), load_fixture(name))
        out[name] = [list(r) for doc in task.docs for r in task.requests(doc)]
    return out


def load_fixture(name):
    with open(os.path.join(ROOT, "test", "fixtures", "tasks", f"{name}.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--parquet-dir")
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "kdoc-6m"))
    args = ap.parse_args()
    utils, tasks_dir = import_harness(args.wheel)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(device).eval()
    max_length = model.config.max_position_embeddings
    out = {"producer": "scripts/oracle/tasks_oracle.py", "lm_eval": "0.4.13", "transformers": __import__("transformers").__version__,
           "torch": torch.__version__, "model": "assets/kdoc-6m", "tasks": {}}
    for name, rel in TASK_YAMLS.items():
        config = utils.load_yaml_config(os.path.join(tasks_dir, rel))
        docs = load_fixture(name)
        task = Task(utils, config, docs)
        items, per_doc = [], []
        for doc in task.docs:
            results = []
            for context, continuation in task.requests(doc):
                ctx, cont = encode_pair(tok, context, continuation)
                ll, greedy = score(model, ctx, cont, max_length, device)
                results.append((ll, greedy))
                items.append({"context": context, "continuation": continuation, "contextTokens": ctx, "continuationTokens": cont, "ll": ll, "greedy": greedy})
            per_doc.append(task.metrics(doc, results))
        metrics = {}
        for key in per_doc[0]:
            xs = [d[key] for d in per_doc]
            if key == "perplexity" and config["output_type"] == "loglikelihood":
                metrics[key] = math.exp(-np.mean(xs))
            else:
                metrics[key] = float(np.mean(xs))
                metrics[f"{key}_stderr"] = float(np.std(xs, ddof=1) / math.sqrt(len(xs)))
        out["tasks"][name] = {"yaml": rel, "docs": len(docs), "requests": items, "perDoc": per_doc, "metrics": metrics}
        print(name, len(docs), "docs", len(items), "requests", metrics, flush=True)
        if args.parquet_dir and name in ("arc_easy", "hellaswag"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(docs), os.path.join(args.parquet_dir, f"{name}.parquet"))
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
