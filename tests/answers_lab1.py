"""Lab 1 answers the hidden tests are tried on.

WRONG: mistakes students make (EXERCISES.md lists the classic ones; more are added here).
Each must lose points. Most are one local change of the reference solution cell, written as an
`Edit` of it (tests/answer_edits.py) so the entry shows the mistake alone; a full source of the
cell is kept where the mistake is a different way of writing the function, with a comment saying so.
ALTERNATIVES: correct answers written in other styles, as full sources. Each must get full marks.
"""

from answer_edits import Edit

WRONG = {
    "perturb_tokens": {
        "with_replacement": Edit("np.argsort(rng.random((rows, n)), axis=1)[:, :k]", "rng.integers(0, n, size=(rows, k))"),
        "inverted_mask": Edit("return sequences, masks", "return sequences, 1 - masks"),
        "k_range_off_by_one": Edit("math.floor(n * max_mask_ratio) + 1)", "math.floor(n * max_mask_ratio))"),
        "k_from_zero": Edit("range(1, math.floor", "range(0, math.floor"),
        "round_instead_of_floor": Edit("math.floor(n * max_mask_ratio)", "round(n * max_mask_ratio)"),
        "always_samples_per_size": Edit("rows = min(samples_per_size, math.comb(n, k))", "rows = samples_per_size"),
        "hard_coded_50_and_ratio": (Edit("n * max_mask_ratio", "n * 0.6"), Edit("min(samples_per_size,", "min(50,")),
        "ignores_neutral_id": Edit("torch.tensor(neutral_id)", "torch.tensor(0)"),
        "ignores_seed": Edit("default_rng(seed)", "default_rng()"),
        "fixed_seed_42": Edit("default_rng(seed)", "default_rng(42)"),
        # a row-by-row loop that writes each sample into the caller's list: the reference writes nothing in place
        "modifies_input_in_place": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    n = len(token_ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = token_ids  # no copy: the caller's ids are overwritten
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append([int(t) for t in s])
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "no_empty_check": Edit('''    if ids.ndim != 1 or ids.numel() == 0:
        raise ValueError("token_ids must be a non-empty 1-D sequence of token ids")
''', ""),
        "float_masks": Edit("torch.from_numpy(np.concatenate(blocks))", "torch.from_numpy(np.concatenate(blocks)).float()"),
    },
    "predict_proba": {
        "softmax_over_batch": Edit("dim=-1", "dim=0"),
        "returns_logits": Edit("torch.softmax(logits, dim=-1)", "logits"),
        "sigmoid_instead_of_softmax": Edit("torch.softmax(logits, dim=-1)", "torch.sigmoid(logits)"),
        "shuffled_batches": Edit("    batches = []\n",
                                 "    batches = []\n    sequences = sequences[torch.randperm(len(sequences))]\n"),
        # what DataLoader(drop_last=True) does
        "drops_last_batch": Edit("range(0, len(sequences), batch_size)",
                                 "range(0, len(sequences) - batch_size + 1, batch_size)"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        "keeps_graph": Edit('''    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start:start + batch_size].to(model_device)
            logits = model(batch).logits
            batches.append(torch.softmax(logits, dim=-1).float().cpu())
''', '''    for start in range(0, len(sequences), batch_size):
        batch = sequences[start:start + batch_size].to(model_device)
        logits = model(batch).logits
        batches.append(torch.softmax(logits, dim=-1).float().cpu())
'''),
        "not_batched": (Edit("range(0, len(sequences), batch_size)", "range(0, len(sequences), max(len(sequences), 1))"),
                        Edit("sequences[start:start + batch_size]", "sequences[start:]")),
        "one_row_at_a_time": (Edit("range(0, len(sequences), batch_size)", "range(len(sequences))"),
                              Edit("sequences[start:start + batch_size]", "sequences[start:start + 1]")),
        "hard_coded_batch_32": (Edit("range(0, len(sequences), batch_size)", "range(0, len(sequences), 32)"),
                                Edit("start + batch_size", "start + 32")),
        "skips_last_partial_batch_by_range": Edit("range(0, len(sequences), batch_size)",
                                                  "range(0, len(sequences) // batch_size * batch_size, batch_size)"),
        "returns_numpy": Edit("return torch.cat(batches)", "return torch.cat(batches).numpy()"),
        "only_positive_column": Edit("torch.softmax(logits, dim=-1)", "torch.softmax(logits, dim=-1)[:, 1:]"),
    },
    "kernel_weights": {
        "unsquared_distance": Edit("-(1 - cosine) ** 2", "-(1 - cosine)"),
        "similarity_not_distance": Edit("(1 - cosine)", "cosine"),
        "divides_by_sigma": Edit("/ sigma ** 2", "/ sigma"),
        "gaussian_two_sigma_squared": Edit("/ sigma ** 2", "/ (2 * sigma ** 2)"),
        "global_original_mask": (Edit("def kernel_weights", "original_mask = torch.ones(12)\n\n\ndef kernel_weights"),
                                 Edit("torch.ones_like(z)", "original_mask[None, :]")),
        "nan_on_all_zero_row": Edit("F.cosine_similarity(z, torch.ones_like(z), dim=1)",
                                    "(z * torch.ones_like(z)).sum(1) / (z.norm(dim=1) * torch.ones_like(z).norm(dim=1))"),
        "euclidean_distance": (Edit("cosine = F.cosine_similarity(z, torch.ones_like(z), dim=1)",
                                    "distance = (z - 1).norm(dim=1)"),
                               Edit("(1 - cosine)", "distance")),
        "hard_coded_sigma": Edit("/ sigma ** 2", "/ 0.25"),
        "keeps_dim": Edit("/ sigma ** 2)", "/ sigma ** 2)[:, None]"),
        "cosine_over_wrong_dim": Edit("dim=1)", "dim=0)"),
    },
    "weighted_mse": {
        "broadcast_n_by_n": Edit("target.reshape(-1) - pred.reshape(-1)", "target - pred"),
        "unweighted": Edit("weights.reshape(-1) * ", ""),
        "normalised_by_weight_sum": Edit("errors.numel()", "weights.sum()"),
        "absolute_error": Edit("errors ** 2", "errors.abs()"),
        "returns_python_float": Edit("return (weights.reshape(-1) * errors ** 2).sum() / errors.numel()",
                                     "return float((weights.reshape(-1) * errors ** 2).sum() / errors.numel())"),
        "weights_squared": Edit("weights.reshape(-1) * errors ** 2", "(weights.reshape(-1) * errors) ** 2"),
        "sum_not_mean": Edit(".sum() / errors.numel()", ".sum()"),
        "squeeze_only_pred": Edit("target.reshape(-1) - pred.reshape(-1)", "target - pred.squeeze()"),
    },
    "fit_surrogate": {
        "no_zero_grad": Edit("            optimizer.zero_grad()\n", ""),
        "ignores_weights": Edit("w[batch]", "torch.ones(len(batch))"),
        "wrong_target_column": Edit("y[:, 1]  # the positive class", "y[:, 0]"),
        "no_seed": Edit("    torch.manual_seed(seed)\n", ""),
        "ignores_epochs": Edit("range(epochs)", "range(10)"),
        "one_step_per_epoch": Edit("torch.randperm(len(X)).split(batch_size):",
                                   "torch.randperm(len(X)).split(batch_size)[:1]:"),
        "returns_weight_with_grad": Edit("return surrogate.weight.detach().reshape(-1).clone(), float(surrogate.bias.item())",
                                         "return surrogate.weight.reshape(-1), surrogate.bias"),
        "only_first_batch": Edit("torch.randperm(len(X)).split(batch_size):", "torch.arange(len(X)).split(batch_size)[:1]:"),
    },
    "token_importance": {
        "sums_duplicates": Edit("sum(ws) / len(ws)", "sum(ws)"),
        "signed_sort": Edit("abs(pair[1])", "pair[1]"),
        "ascending": Edit("abs(pair[1]), reverse=True)", "abs(pair[1]))"),
        "keeps_g": Edit('token.lstrip("Ġ")', "token"),
        "last_duplicate_wins": Edit("sum(ws) / len(ws)", "ws[-1]"),
        "no_merge": Edit("pairs = [(word, sum(ws) / len(ws)) for word, ws in weights_by_word.items()]",
                         'pairs = [(token.lstrip("Ġ"), weight) for token, weight in zip(tokens, torch.as_tensor(coef).tolist())]'),
        "abs_weights_returned": Edit("(word, sum(ws) / len(ws))", "(word, abs(sum(ws) / len(ws)))"),
        "tensor_weights": Edit("torch.as_tensor(coef).detach().tolist()", "torch.as_tensor(coef).detach()"),
        "sort_then_merge": (Edit("zip(tokens, torch.as_tensor(coef).detach().tolist())",
                                 "sorted(zip(tokens, torch.as_tensor(coef).detach().tolist()), key=lambda tw: abs(tw[1]), "
                                 "reverse=True)"),
                            Edit("return sorted(pairs, key=lambda pair: abs(pair[1]), reverse=True)", "return pairs")),
        "mean_of_abs": Edit("sum(ws) / len(ws)", "sum(abs(x) for x in ws) / len(ws) * (1 if ws[0] > 0 else -1)"),
    },
    "top_k_overlap": {
        "divides_by_k": Edit("/ len(union) if union else 0.0", "/ k"),
        "signed_top_k": Edit("abs(pair[1])", "pair[1]"),
        "assumes_sorted_lists": Edit("ranked = sorted(pairs, key=lambda pair: abs(pair[1]), reverse=True)",
                                     "ranked = list(pairs)"),
        "lists_only": Edit("explanation.items() if isinstance(explanation, dict) else explanation", "explanation"),
        "intersection_count": Edit("return len(top_a & top_b) / len(union) if union else 0.0",
                                   "return float(len(top_a & top_b))"),
        "smallest_k": Edit("abs(pair[1]), reverse=True)", "abs(pair[1]))"),
        # k distinct words instead of the first k entries: a word listed twice (lime's "the") keeps one
        # weight, the last, and the top-k set is refilled with the next word
        "distinct_words_via_dict": Edit("explanation.items() if isinstance(explanation, dict) else explanation",
                                        "dict(explanation).items()"),
    },
}


ALTERNATIVES = {
    "perturb_tokens": {
        "seed_style_loops": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    token_ids = list(np.asarray(token_ids).tolist())
    if len(token_ids) == 0:
        raise ValueError("no tokens")
    n = len(token_ids)
    rng = np.random.default_rng(seed)
    masks, sequences = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idxs = rng.choice(n, size=k, replace=False)
            mask = np.ones(n, dtype=int); seq = token_ids.copy()
            for i in idxs:
                mask[i] = 0; seq[i] = neutral_id
            masks.append(mask); sequences.append(seq)
    return torch.tensor(sequences), torch.tensor(np.array(masks))
''',
        "permutation_and_enumeration": '''
import itertools
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = torch.tensor(list(map(int, token_ids)), dtype=torch.long)
    if ids.numel() == 0:
        raise ValueError("token_ids is empty")
    n = len(ids); rng = np.random.default_rng(seed); rows = []
    for k in range(1, int(math.floor(n * max_mask_ratio)) + 1):
        if math.comb(n, k) <= samples_per_size:
            subsets = list(itertools.combinations(range(n), k))   # all subsets, once each
        else:
            subsets = [rng.permutation(n)[:k] for _ in range(samples_per_size)]
        for subset in subsets:
            row = torch.ones(n, dtype=torch.long); row[list(subset)] = 0; rows.append(row)
    masks = torch.stack(rows)
    sequences = ids.repeat(len(masks), 1)
    sequences[masks == 0] = neutral_id
    return sequences, masks
''',
        "argsort_vectorised": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = np.array(token_ids, dtype=np.int64).ravel()
    if ids.size == 0:
        raise ValueError("token_ids must not be empty")
    n = ids.size; rng = np.random.default_rng(seed); blocks = []
    for k in range(1, int(n * max_mask_ratio) + 1):
        m = min(samples_per_size, math.comb(n, k))
        order = np.argsort(rng.random((m, n)), axis=1)
        block = np.ones((m, n), dtype=np.int64)
        np.put_along_axis(block, order[:, :k], 0, axis=1)
        blocks.append(block)
    masks = np.concatenate(blocks)
    seqs = np.where(masks == 1, ids[None, :], neutral_id)
    return torch.from_numpy(seqs), torch.from_numpy(masks)
''',
    },
    "predict_proba": {
        "dataloader": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval()
    dev = next(model.parameters()).device
    probs = []
    with torch.no_grad():
        for (batch,) in DataLoader(TensorDataset(sequences), batch_size=batch_size):
            probs.append(F.softmax(model(input_ids=batch.to(dev)).logits, dim=1).cpu())
    return torch.cat(probs, dim=0)
''',
        "inference_mode_split": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval()
    with torch.inference_mode():
        parts = [model(chunk)[0].softmax(-1) for chunk in torch.split(sequences, batch_size)]
    return torch.cat(parts).float().cpu().clone()
''',
        "detach_after": '''
def predict_proba(model, sequences, batch_size=32):
    model.train(False)
    out = torch.empty(0)
    for start in range(0, sequences.shape[0], batch_size):
        logits = model(sequences[start:start + batch_size]).logits
        p = torch.exp(logits - torch.logsumexp(logits, dim=-1, keepdim=True))
        out = torch.cat([out, p.detach().cpu()])
    return out
''',
    },
    "kernel_weights": {
        "manual_cosine_with_guard": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.to(torch.float32)
    norms = z.norm(dim=1) * math.sqrt(z.shape[1])
    cos = torch.where(norms > 0, z.sum(dim=1) / norms.clamp_min(1e-12), torch.zeros_like(norms))
    return torch.exp(-((1 - cos) ** 2) / sigma ** 2)
''',
        "nn_cosine_module": '''
def kernel_weights(masks, sigma=0.5):
    cos = nn.CosineSimilarity(dim=1)
    z = masks.float()
    return torch.exp(-torch.square(1 - cos(z, torch.ones(z.shape[1]).expand_as(z))) / (sigma * sigma))
''',
        "numpy_then_tensor": '''
def kernel_weights(masks, sigma=0.5):
    z = np.asarray(masks, dtype=np.float64)
    kept = z.sum(axis=1)
    cos = np.divide(kept, np.sqrt(kept * z.shape[1]), out=np.zeros_like(kept), where=kept > 0)
    return torch.tensor(np.exp(-(1 - cos) ** 2 / sigma ** 2), dtype=torch.float32)
''',
    },
    "weighted_mse": {
        "squeeze_and_mean": '''
def weighted_mse(pred, target, weights):
    return torch.mean(weights.view(-1) * (pred.view(-1) - target.view(-1)).pow(2))
''',
        "flatten_dot": '''
def weighted_mse(pred, target, weights):
    e = torch.flatten(target) - torch.flatten(pred)
    return torch.dot(weights.flatten().to(e.dtype), e * e) / len(e)
''',
        "column_vectors": '''
def weighted_mse(pred, target, weights):
    p = pred.reshape(-1, 1); t = target.reshape(-1, 1); w = weights.reshape(-1, 1)
    return (w * (t - p) ** 2).mean()
''',
    },
    "fit_surrogate": {
        "manual_permutation": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float()
    y = targets.float()
    if y.dim() == 2 and y.size(1) == 2:
        y = y[:, 1:2]
    y = y.reshape(-1, 1)
    w = weights.float().reshape(-1)
    model_g = nn.Linear(X.size(1), 1)
    opt = torch.optim.Adam(model_g.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            weighted_mse(model_g(X[idx]), y[idx], w[idx]).backward()
            opt.step()
    return model_g.weight.detach().squeeze(0).clone(), model_g.bias.item()
''',
        "generator_seeded": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer = nn.Linear(masks.shape[1], 1)
        gen = torch.Generator().manual_seed(seed)
    y = targets[:, 1] if targets.ndim == 2 and targets.shape[1] > 1 else targets.reshape(-1)
    data = TensorDataset(masks.float(), y.float(), weights.float())
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    for epoch in range(epochs):
        for xb, yb, wb in DataLoader(data, batch_size=batch_size, shuffle=True, generator=gen):
            opt.zero_grad(set_to_none=True)
            loss = weighted_mse(layer(xb).squeeze(-1), yb, wb)
            loss.backward()
            opt.step()
    return layer.weight.data.flatten().clone(), float(layer.bias.data[0])
''',
    },
    "token_importance": {
        "groupby_after_stable_sort": '''
def token_importance(tokens, coef):
    values = torch.as_tensor(coef).detach().reshape(-1).tolist()
    words = [t[1:] if t.startswith("Ġ") else t for t in tokens]
    first_seen = {}
    for w in words:
        first_seen.setdefault(w, len(first_seen))
    merged = {w: float(np.mean([v for x, v in zip(words, values) if x == w])) for w in first_seen}
    return sorted(merged.items(), key=lambda item: (-abs(item[1]), first_seen[item[0]]))
''',
        "defaultdict_numpy": '''
from collections import defaultdict
def token_importance(tokens, coef):
    values = np.asarray(coef.detach().cpu() if torch.is_tensor(coef) else coef, dtype=float)
    groups = defaultdict(list)
    for tok, v in zip(tokens, values):
        groups[tok.replace("Ġ", "")].append(v)
    merged = [(w, float(np.mean(vs))) for w, vs in groups.items()]
    merged.sort(key=lambda item: -abs(item[1]))
    return merged
''',
        "ordered_dict_seed_style": '''
from collections import OrderedDict
def token_importance(tokens, coef):
    agg = OrderedDict()
    for tok, weight in zip(tokens, list(map(float, coef))):
        agg.setdefault(tok.lstrip("Ġ"), []).append(weight)
    items = [[word, sum(ws) / len(ws)] for word, ws in agg.items()]
    return [tuple(item) for item in sorted(items, key=lambda x: abs(x[1]), reverse=True)]
''',
    },
    "top_k_overlap": {
        "ranked_lists_then_sets": '''
def top_k_overlap(a, b, k):
    def ranked(explanation):
        items = list(explanation.items()) if isinstance(explanation, dict) else [tuple(p) for p in explanation]
        return [word for word, _ in sorted(items, key=lambda p: -abs(float(p[1])))]
    A, B = set(ranked(a)[:k]), set(ranked(b)[:k])
    return len(A & B) / len(A | B) if A | B else 0.0
''',
        "heapq": '''
import heapq
def top_k_overlap(a, b, k):
    pa = list(a.items()) if isinstance(a, dict) else list(a)
    pb = list(b.items()) if isinstance(b, dict) else list(b)
    A = {w for w, _ in heapq.nlargest(k, pa, key=lambda p: abs(p[1]))}
    B = {w for w, _ in heapq.nlargest(k, pb, key=lambda p: abs(p[1]))}
    return float(len(A.intersection(B))) / len(A.union(B))
''',
    },
}

# One mistake, the tests that fail for it (visible tests included): every other test passes.
# A mistake in weighted_mse costs no fit_surrogate test: the hidden ones use a reference loss, and the visible
# one skips its value check (saying why) when weighted_mse is wrong for [N, 1] predictions.
ISOLATED = {
    "token_importance": {
        "signed_sort": {"test_token_importance_visible", "test_token_importance_sorting"},
        "ascending": {"test_token_importance_visible", "test_token_importance_sorting"},
    },
    "perturb_tokens": {
        "with_replacement": {"test_perturb_tokens_visible", "test_perturb_tokens_counts"},
    },
    "kernel_weights": {
        "unsquared_distance": {"test_kernel_weights_visible", "test_kernel_weights_values"},
    },
    "weighted_mse": {
        "broadcast_n_by_n": {"test_weighted_mse_visible", "test_weighted_mse_shapes", "test_weighted_mse_gradient"},
        "unweighted": {"test_weighted_mse_visible", "test_weighted_mse_values", "test_weighted_mse_gradient"},
        "normalised_by_weight_sum": {"test_weighted_mse_visible", "test_weighted_mse_values"},
    },
    "fit_surrogate": {
        "no_zero_grad": {"test_fit_surrogate_visible", "test_fit_surrogate_linear", "test_fit_surrogate_weights",
                         "test_fit_surrogate_targets"},  # its first check: "fix the training loop first"
    },
    "top_k_overlap": {
        "divides_by_k": {"test_top_k_overlap_visible", "test_top_k_overlap_jaccard"},
    },
}

# The commonest slips, caught by the visible test under the exercise (what a student runs before submitting),
# with a message naming the cause: wrong-answer label -> a regex the visible test's message must match.
VISIBLE = {
    "perturb_tokens": {
        "k_range_off_by_one": r"stops one short.*k_max \+ 1",
        "k_from_zero": r"k starts at 1",
        "round_instead_of_floor": r"floor.*not round",
        "with_replacement": r"DISTINCT positions.*replace=False",
        "ignores_seed": r"same seed gave different samples",
        "fixed_seed_42": r"seed argument is ignored",
        "modifies_input_in_place": r"changed the caller's token_ids",
        "hard_coded_50_and_ratio": r"use the max_mask_ratio and samples_per_size arguments",
        "no_empty_check": r"empty token_ids should raise ValueError",
    },
    "predict_proba": {
        "no_eval_mode": r"training mode.*model\.eval\(\)",
        "shuffled_batches": r"input order.*do not shuffle",
        "not_batched": r"batches of sizes \[4, 4, 2\], got \[10\]",
        "keeps_graph": r"autograd graph.*no_grad",
        "drops_last_batch": r"keep the last, smaller batch",
    },
    "kernel_weights": {
        "divides_by_sigma": r"divide by sigma squared",
        "nan_on_all_zero_row": r"every token replaced gave nan",
        "hard_coded_sigma": r"use the sigma argument",
        "global_original_mask": r"build the all-ones vector from masks itself",
        "cosine_over_wrong_dim": r"one weight per token instead of one per mask.*dim=1",
    },
    "weighted_mse": {
        "normalised_by_weight_sum": r"divides by the sum of the weights",
        "unweighted": r"weights are ignored",
        "broadcast_n_by_n": r"broadcasts to an \[N, N\] matrix",
        "squeeze_only_pred": r"pred \[N\] and target \[N, 1\].*broadcasts",
    },
    "fit_surrogate": {
        "ignores_weights": r"ignores the kernel weights",
        "wrong_target_column": r"explain column 1",
        "no_seed": r"same seed gave two different surrogates",
        "only_first_batch": r"EVERY batch of every epoch",
        "ignores_epochs": r"train for `epochs` epochs",
    },
    "token_importance": {
        "sums_duplicates": r"the sum: a repeated word gets the mean",
        "last_duplicate_wins": r"the last one: a repeated word gets the mean",
        "sort_then_merge": r"merge the repeated words first, then sort",
    },
    "top_k_overlap": {
        "signed_top_k": r"rank by \|weight\|.*not the signed weight",
        "assumes_sorted_lists": r"lists are not sorted",
        "distinct_words_via_dict": r"first k entries by \|weight\|",
        "divides_by_k": r"not by k",
    },
}
