"""Is a yes/no node's decision already in the model? A linear probe on frozen hidden states.

    vot train probe-node --node verify --train runs/nodes/data/train.jsonl \
        --eval runs/nodes/data/eval-w7-original.jsonl --train-limit 600 --eval-limit 200

For node examples with a right/wrong label (verify: is the shown answer the right one; rank_answers'
rate_candidate rows: is the rated option right), the model reads each prompt exactly as the node call
sends it (data.render_node_prompt), and the hidden states of its last token at a few layers are the
features. A logistic regression on the training rows, its L2 weight chosen on a fifth of them held
out, is then scored on the evaluation rows.

What it separates: when the probe reads the decision on a world it never saw and the trained node
does not, the model represents what the node needs and the training budget or recipe is what falls
short; when the probe is at chance too, no recipe on this base model will teach the node from these
prompts. Measured for verify (docs/training.md, "The verify node"): from 600 training prompts the
probe reads 0.835 of 200 seed-7 checks (0.665 in held-out wording), where one epoch of LoRA SFT
reaches 0.59 and GRPO from it collapses onto "no" (0.50).
"""

from __future__ import annotations

import random
import time

LABELLED_NODES = ("verify", "rank_answers")  # nodes whose examples carry a right/wrong label ("correct")
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)  # the probe's L2 weights tried; one is chosen on held-out training rows


class ProbeDataError(ValueError):
    """Node examples the probe cannot use (no labelled rows of the node, one class only)."""


def labelled_rows(rows: list[dict], node: str, limit: int, seed: int) -> list[dict]:
    """`limit` rows of `node` with a right/wrong label, shuffled with `seed`."""
    if node not in LABELLED_NODES:
        raise ProbeDataError(f"node {node!r} has no right/wrong label to probe; probe one of {LABELLED_NODES}")
    found = [r for r in rows if r.get("node") == node and isinstance(r.get("correct"), bool)
             and r.get("kind") != "score"]
    random.Random(seed).shuffle(found)
    found = found[:limit]
    if len({r["correct"] for r in found}) < 2:
        raise ProbeDataError(f"{len(found)} labelled {node!r} rows hold only one class: nothing to separate")
    return found


def last_token_states(model, tokenizer, node: str, rows: list[dict], layers: tuple[int, ...]):
    """(rows x hidden*len(layers)) float tensor: the last prompt token's hidden state at each layer."""
    import torch
    from videothought.training.nodes.data import render_node_prompt

    model.eval()
    features = []
    with torch.no_grad():
        for row in rows:
            ids = tokenizer(render_node_prompt(tokenizer, node, row["prompt"]), return_tensors="pt",
                            add_special_tokens=False)
            states = model(**ids, output_hidden_states=True).hidden_states
            features.append(torch.cat([states[layer][0, -1].float() for layer in layers]))
    return torch.stack(features)


def fit_logistic(x, y, l2: float, steps: int = 200):
    """(weights, bias, mean, std): an L2-regularised logistic regression on standardised features."""
    import torch

    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    weights = torch.zeros(z.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(z @ weights + bias, y) + l2 * weights.pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return weights.detach(), bias.detach(), mean, std


def accuracy(probe, x, y) -> float:
    weights, bias, mean, std = probe
    return float((((x - mean) / std @ weights + bias > 0).float() == y).float().mean())


def probe_decision(train_x, train_y, eval_x, eval_y, *, seed: int = 0, l2_grid: tuple[float, ...] = L2_GRID) -> dict:
    """Fit on 4/5 of the training rows for each L2 weight, keep the best on the other fifth, refit it
    on every training row and score the evaluation rows (which choose nothing)."""
    import torch

    order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(seed))
    held = order[: max(1, len(order) // 5)]
    fit = order[len(held):]
    held_out = {l2: accuracy(fit_logistic(train_x[fit], train_y[fit], l2), train_x[held], train_y[held]) for l2 in l2_grid}
    chosen = max(l2_grid, key=lambda l2: (held_out[l2], l2))  # ties: the stronger regularisation
    probe = fit_logistic(train_x, train_y, chosen)
    majority = max(float(eval_y.mean()), 1 - float(eval_y.mean()))
    return {"l2": chosen, "held_out_accuracy": held_out, "train_accuracy": accuracy(probe, train_x, train_y),
            "eval_accuracy": accuracy(probe, eval_x, eval_y), "eval_majority": majority,
            "train_rows": len(train_y), "eval_rows": len(eval_y)}


def probe_node(model, tokenizer, node: str, train_rows: list[dict], eval_rows: list[dict], *,
               layers: tuple[int, ...] = (-1, -8, -15), seed: int = 0) -> dict:
    """The whole probe: features of both row sets, the fit, the scores, the time it took."""
    import torch

    started = time.perf_counter()
    train_x = last_token_states(model, tokenizer, node, train_rows, layers)
    eval_x = last_token_states(model, tokenizer, node, eval_rows, layers)
    labels = [torch.tensor([float(r["correct"]) for r in rows]) for rows in (train_rows, eval_rows)]
    result = probe_decision(train_x, labels[0], eval_x, labels[1], seed=seed)
    return {"node": node, "layers": list(layers), **result, "seconds": round(time.perf_counter() - started, 1)}
