"""Lab 2 answers the hidden tests are tried on (see answers_lab1.py for the conventions: most WRONG entries are
edits of the reference solution, a full source is kept where the mistake is a different way of writing it)."""

from answer_edits import Edit

WRONG = {
    "make_predict_proba": {
        "no_attention_mask": Edit("model(**encoded)", 'model(input_ids=encoded["input_ids"])'),
        "no_truncation": Edit("truncation=True", "truncation=False"),
        "ignores_max_length": Edit("max_length=max_length", "max_length=512"),
        "softmax_over_batch": Edit("dim=-1", "dim=0"),
        "ignores_batch_size": (Edit("range(0, len(texts), batch_size)", "range(0, len(texts), 64)"),
                               Edit("start + batch_size", "start + 64")),
        # every text in one forward pass
        "not_batched": (Edit("range(0, len(texts), batch_size)", "range(0, len(texts), max(len(texts), 1))"),
                        Edit("start + batch_size", "start + max(len(texts), 1)")),
        # the logits of every text in one forward pass (so it also fails the batching test)
        "returns_logits": (Edit("torch.softmax(model(**encoded).logits, dim=-1)", "model(**encoded).logits"),
                           Edit("range(0, len(texts), batch_size)", "range(0, len(texts), max(len(texts), 1))"),
                           Edit("start + batch_size", "start + max(len(texts), 1)")),
        "returns_tensor": Edit("torch.cat(rows).numpy()", "torch.cat(rows)"),
        "no_eval": Edit("        model.eval()\n", ""),
        # no function at all: the probabilities of nothing in particular, where the caller expects predict(texts)
        "returns_probabilities_not_function": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    model.eval()
    return np.array([[0.5, 0.5]])
''',
        "positive_column_only_pair": Edit(
            "rows.append(torch.softmax(model(**encoded).logits, dim=-1).float().cpu())",
            "p = torch.sigmoid(model(**encoded).logits[:, 1])\n"
            "                rows.append(torch.stack([1 - p, p], dim=1).float().cpu())"),
    },
    "sample_accuracy": {
        "legacy_np_random_seed": Edit("    indices = np.random.default_rng(seed).choice(",
                                      "    np.random.seed(seed)\n    indices = np.random.choice("),
        "first_n": Edit("dataset.select(indices)", "dataset.select(range(n))"),
        "with_replacement": Edit("replace=False", "replace=True"),
        "dataset_shuffle": Edit("dataset.select(indices)", "dataset.shuffle(seed=seed).select(range(n))"),
        "positive_column_threshold": Edit('np.argmax(predict_fn(sample["text"]), axis=1)',
                                          '(predict_fn(sample["text"])[:, 1] > 0.5).astype(int)'),
        "percentage": Edit("return float(", "return 100.0 * float("),
        "ignores_seed": Edit("default_rng(seed).choice", "default_rng(42).choice"),
        "labels_of_wrong_rows": Edit('np.asarray(sample["label"])', 'np.asarray(dataset["label"][:n])'),
    },
    "cls_attention": {
        "column_not_row": Edit(".mean(dim=0)[0]", ".mean(dim=0)[:, 0]"),
        "max_over_heads": Edit(".mean(dim=0)[0]", ".max(dim=0).values[0]"),
        "always_last_layer": Edit("attentions[layer]", "attentions[-1]"),
        "first_layer_default": Edit("attentions[layer]", "attentions[0]"),
        "single_head": Edit(".mean(dim=0)[0]", "[0][0]"),
        "no_eval": Edit("    model.eval()\n", ""),
        "returns_tensor_with_batch": (Edit("attentions[layer][0].mean(dim=0)[0]", "attentions[layer].mean(dim=1)[:, 0]"),
                                      Edit("weights.float().cpu().numpy()", "weights")),
        "drops_special_tokens": Edit("return tokens, weights.float().cpu().numpy()",
                                     "return tokens[1:-1], weights.float().cpu().numpy()[1:-1]"),
    },
    "top_k_tokens": {
        "ascending": Edit(", reverse=True)[:k]", ")[:k]"),
        "skips_first_and_last_only": Edit('''    pairs = [(token, value) for token, value in zip(tokens, values)
             if not (skip_special and token in SPECIAL_TOKENS)]
''', '''    pairs = list(zip(tokens, values))
    if skip_special:
        pairs = pairs[1:-1]
'''),
        "ignores_skip_special_flag": Edit("if not (skip_special and token in SPECIAL_TOKENS)",
                                          "if token not in SPECIAL_TOKENS"),
        "abs_sort": Edit("key=lambda pair: pair[1]", "key=lambda pair: abs(pair[1])"),
        "forgets_pad": Edit("token in SPECIAL_TOKENS", 'token in ("[CLS]", "[SEP]")'),
        "k_off_by_one": Edit("[:k]", "[:k - 1]"),
        "dedupes_tokens": Edit("return sorted(pairs,", "return sorted(dict(pairs).items(),"),
        "tensor_scores_returned": Edit(
            "values = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=float).reshape(-1).tolist()",
            "values = torch.as_tensor(scores)"),
    },
    "attention_submatrix": {
        "diagonal_indexing": Edit("matrix[np.ix_(idx, idx)]", "matrix[idx, idx]"),
        "transposed": Edit("matrix[np.ix_(idx, idx)]", "matrix[np.ix_(idx, idx)].T"),
        "sorts_indices": Edit("np.asarray(indices, dtype=int)", "np.sort(np.asarray(indices, dtype=int))"),
        "first_head_only": Edit(".mean(axis=0)", "[0]"),
        "sum_over_heads": Edit(".mean(axis=0)", ".sum(axis=0)"),
        "only_3d_input": Edit("matrix.reshape(-1, *matrix.shape[-2:]).mean(axis=0)", "matrix.mean(axis=0)"),
    },
    "rank_agreement": {
        "spearman": Edit("kendalltau", "spearmanr"),
        "pearson": Edit("kendalltau", "pearsonr"),
        "paired_by_dict_order": (Edit("shared = [word for word in a if word in b]", "shared = list(a)[:min(len(a), len(b))]"),
                                 Edit("[b[w] for w in shared]", "list(b.values())[:len(shared)]")),
        "union_with_zeros": (Edit("shared = [word for word in a if word in b]", "shared = sorted(set(a) | set(b))"),
                             Edit("[a[w] for w in shared], [b[w] for w in shared]",
                                  "[a.get(w, 0.0) for w in shared], [b.get(w, 0.0) for w in shared]")),
        "absolute_values": Edit("[a[w] for w in shared], [b[w] for w in shared]",
                                "[abs(a[w]) for w in shared], [abs(b[w]) for w in shared]"),
        "zero_for_too_few": Edit('return float("nan")', "return 0.0"),
        "returns_result_object": Edit('''    tau = scipy.stats.kendalltau([a[w] for w in shared], [b[w] for w in shared]).statistic
    return float(tau)''', "    return scipy.stats.kendalltau([a[w] for w in shared], [b[w] for w in shared])"),
    },
}

ALTERNATIVES = {
    "make_predict_proba": {
        "single_call_per_batch_numpy_softmax": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    dev = next(model.parameters()).device
    def predict(texts):
        model.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i:i + batch_size]), return_tensors="pt", padding="longest",
                            truncation=True, max_length=max_length)
            with torch.inference_mode():
                logits = model(input_ids=enc["input_ids"].to(dev), attention_mask=enc["attention_mask"].to(dev)).logits
            z = logits.cpu().double().numpy()
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out.append(z / z.sum(axis=1, keepdims=True))
        return np.concatenate(out, axis=0)
    return predict
''',
        "lambda_and_helper": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    model.eval()
    def one_batch(batch):
        enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            return torch.nn.functional.softmax(model(**enc)[0], dim=1).numpy()
    return lambda texts: np.vstack([one_batch(list(texts)[i:i + batch_size]) for i in range(0, len(texts), batch_size)])
''',
    },
    "sample_accuracy": {
        "sklearn_and_indexing": '''
from sklearn.metrics import accuracy_score
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(dataset), size=n, replace=False)
    texts = [dataset[int(i)]["text"] for i in idx]
    labels = [dataset[int(i)]["label"] for i in idx]
    return float(accuracy_score(labels, predict_fn(texts).argmax(axis=-1)))
''',
        "batched_predict_calls": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    idx = np.random.default_rng(seed).choice(len(dataset), size=n, replace=False).tolist()
    rows = dataset.select(idx)
    correct = 0
    for start in range(0, n, 7):
        chunk = rows.select(range(start, min(start + 7, n)))
        correct += int((np.asarray(predict_fn(list(chunk["text"]))).argmax(1) == np.asarray(chunk["label"])).sum())
    return correct / n
''',
    },
    "cls_attention": {
        "stack_and_index": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval()
    ids = tokenizer.encode(text, return_tensors="pt")
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True)
    stacked = torch.stack(out.attentions)            # [layers, 1, heads, T, T]
    weights = stacked[layer, 0, :, 0, :].mean(dim=0)
    return [tokenizer.convert_ids_to_tokens(int(i)) for i in ids[0]], weights.numpy().astype(np.float64)
''',
    },
    "top_k_tokens": {
        "heapq_nlargest": '''
import heapq
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    values = torch.as_tensor(scores, dtype=torch.float64).reshape(-1).tolist()
    pairs = [(t, v) for t, v in zip(tokens, values) if not (skip_special and t in ("[CLS]", "[SEP]", "[PAD]"))]
    return heapq.nlargest(k, pairs, key=lambda pair: pair[1])
''',
        "numpy_argsort": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    s = np.asarray(torch.as_tensor(scores, dtype=torch.float64))
    keep = [i for i, t in enumerate(tokens) if not skip_special or t not in {"[CLS]", "[SEP]", "[PAD]"}]
    order = sorted(keep, key=lambda i: -s[i])[:k]
    return [(tokens[i], float(s[i])) for i in order]
''',
    },
    "attention_submatrix": {
        "torch_index_select": '''
def attention_submatrix(attn, indices):
    a = torch.as_tensor(attn, dtype=torch.float64)
    while a.dim() > 3:
        a = a.squeeze(0)
    idx = torch.as_tensor(list(indices))
    return a.mean(0).index_select(0, idx).index_select(1, idx).numpy()
''',
        "two_step_numpy": '''
def attention_submatrix(attn, indices):
    a = np.array(attn)
    if a.ndim == 4:
        a = a[0]
    avg = a.mean(axis=0)
    return avg[list(indices)][:, list(indices)]
''',
    },
    "rank_agreement": {
        "shared_in_b_order_tuple_unpacking": '''
def rank_agreement(a, b):
    shared = [w for w in b if w in a]
    if len(shared) < 2:
        return float("nan")
    tau, _p = scipy.stats.kendalltau(np.array([a[w] for w in shared]), np.array([b[w] for w in shared]))
    return float(tau)
''',
        "set_intersection_sorted": '''
def rank_agreement(a, b):
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        return float("nan")
    tau, _ = scipy.stats.kendalltau([a[w] for w in shared], [b[w] for w in shared])
    return float(tau)
''',
    },
}


# One mistake, the tests that fail for it (visible tests included): every other test passes.
ISOLATED = {
    "make_predict_proba": {
        "no_attention_mask": {"test_make_predict_proba_visible", "test_make_predict_proba_values",
                              "test_make_predict_proba_batches"},
    },
    "sample_accuracy": {
        "first_n": {"test_sample_accuracy_visible", "test_sample_accuracy_draw"},
    },
    "cls_attention": {
        "max_over_heads": {"test_cls_attention_visible", "test_cls_attention_values"},
        "column_not_row": {"test_cls_attention_visible", "test_cls_attention_values"},
    },
    "attention_submatrix": {
        "diagonal_indexing": {"test_attention_submatrix_visible", "test_attention_submatrix_hidden"},
    },
    "rank_agreement": {
        "returns_result_object": {"test_rank_agreement_visible", "test_rank_agreement_hidden"},
    },
}

# The commonest slips, caught by the visible test under the exercise with a message naming the cause
# (see answers_lab1.py): wrong-answer label -> a regex the visible test's message must match.
VISIBLE = {
    "make_predict_proba": {
        "no_eval": r"training mode.*model\.eval\(\)",
        "no_truncation": r"truncation=True",
        "ignores_max_length": r"max_length=max_length \(the argument\)",
        "ignores_batch_size": r"batches of sizes \[2, 2, 1\]",
        "not_batched": r"batches of sizes \[2, 2, 1\], got \[5\]",
        "no_attention_mask": r"attention_mask",
    },
    "sample_accuracy": {
        "ignores_seed": r"default_rng\(3\).*with the seed argument",
        "positive_column_threshold": r"argmax over all columns",
        "first_n": r"not the first n rows",
    },
    "cls_attention": {
        "no_eval": r"training mode.*model\.eval\(\)",
        "always_last_layer": r"use the `layer` argument",
        "column_not_row": r"attention TO \[CLS\]",
        "max_over_heads": r"average the heads",
    },
    "top_k_tokens": {
        "skips_first_and_last_only": r"wherever it stands",
        "forgets_pad": r"\[PAD\]",
        "abs_sort": r"signed score",
        "dedupes_tokens": r"repeated token at each of its positions",
        "ignores_skip_special_flag": r"skip_special=False",
    },
    "attention_submatrix": {
        "sorts_indices": r"order given \(do not sort",
        "only_3d_input": r"\[1, heads, T, T\].*batch dimension",
    },
    "rank_agreement": {
        "spearman": r"Spearman's rho.*Kendall's tau",
        "paired_by_dict_order": r"by word, not by the dicts' order",
        "union_with_zeros": r"present in BOTH dicts",
        "absolute_values": r"absolute scores",
        "zero_for_too_few": r"float\('nan'\)",
        "pearson": r"not Pearson's r",
    },
}
