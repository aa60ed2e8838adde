"""Lab 2 answers the hidden tests are tried on (see answers_lab1.py for the conventions)."""

_PREDICT_TEMPLATE = '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    def predict(texts):
        model.eval(); texts = list(texts); rows = []
        with torch.no_grad():
            for start in range(0, len(texts), {step}):
                enc = tokenizer(texts[start:start + {step}], padding=True, truncation={truncation},
                                max_length={max_length}, return_tensors="pt")
                {call}
                rows.append(torch.softmax(logits, dim={dim}))
        return torch.cat(rows).numpy()
    return predict
'''


def _predict(step="batch_size", truncation="True", max_length="max_length", call="logits = model(**enc).logits",
             dim="-1"):
    return _PREDICT_TEMPLATE.format(step=step, truncation=truncation, max_length=max_length, call=call, dim=dim)


WRONG = {
    "make_predict_proba": {
        "no_attention_mask": _predict(call='logits = model(input_ids=enc["input_ids"]).logits'),
        "no_truncation": _predict(truncation="False"),
        "ignores_max_length": _predict(max_length="512"),
        "softmax_over_batch": _predict(dim="0"),
        "ignores_batch_size": _predict(step="64"),
        "not_batched": _predict(step="max(len(texts), 1)"),  # every text in one forward pass
        "returns_logits": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    def predict(texts):
        model.eval()
        with torch.no_grad():
            enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            return model(**enc).logits.numpy()
    return predict
''',
        "returns_tensor": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    def predict(texts):
        model.eval(); texts = list(texts); rows = []
        with torch.no_grad():
            for s in range(0, len(texts), batch_size):
                enc = tokenizer(texts[s:s + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                rows.append(torch.softmax(model(**enc).logits, dim=-1))
        return torch.cat(rows)
    return predict
''',
        "no_eval": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    def predict(texts):
        texts = list(texts); rows = []
        with torch.no_grad():
            for s in range(0, len(texts), batch_size):
                enc = tokenizer(texts[s:s + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                rows.append(torch.softmax(model(**enc).logits, dim=-1))
        return torch.cat(rows).numpy()
    return predict
''',
        "returns_probabilities_not_function": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    model.eval()
    return np.array([[0.5, 0.5]])
''',
        "positive_column_only_pair": '''
def make_predict_proba(model, tokenizer, batch_size=32, max_length=512):
    def predict(texts):
        model.eval(); texts = list(texts); rows = []
        with torch.no_grad():
            for s in range(0, len(texts), batch_size):
                enc = tokenizer(texts[s:s + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                p = torch.sigmoid(model(**enc).logits[:, 1])
                rows.append(torch.stack([1 - p, p], dim=1))
        return torch.cat(rows).numpy()
    return predict
''',
    },
    "sample_accuracy": {
        "legacy_np_random_seed": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    np.random.seed(seed)
    idx = np.random.choice(len(dataset), size=n, replace=False)
    s = dataset.select(idx)
    return float(np.mean(np.argmax(predict_fn(list(s["text"])), axis=1) == np.array(s["label"])))
''',
        "first_n": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    s = dataset.select(range(n))
    return float(np.mean(np.argmax(predict_fn(list(s["text"])), axis=1) == np.array(s["label"])))
''',
        "with_replacement": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    idx = np.random.default_rng(seed).choice(len(dataset), size=n, replace=True)
    s = dataset.select(idx)
    return float(np.mean(np.argmax(predict_fn(list(s["text"])), axis=1) == np.array(s["label"])))
''',
        "dataset_shuffle": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    s = dataset.shuffle(seed=seed).select(range(n))
    return float(np.mean(np.argmax(predict_fn(list(s["text"])), axis=1) == np.array(s["label"])))
''',
        "positive_column_threshold": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    idx = np.random.default_rng(seed).choice(len(dataset), size=n, replace=False)
    s = dataset.select(idx)
    return float(np.mean((predict_fn(list(s["text"]))[:, 1] > 0.5).astype(int) == np.array(s["label"])))
''',
        "percentage": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    idx = np.random.default_rng(seed).choice(len(dataset), size=n, replace=False)
    s = dataset.select(idx)
    return 100.0 * float(np.mean(np.argmax(predict_fn(list(s["text"])), axis=1) == np.array(s["label"])))
''',
        "ignores_seed": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    idx = np.random.default_rng(42).choice(len(dataset), size=n, replace=False)
    s = dataset.select(idx)
    return float(np.mean(np.argmax(predict_fn(list(s["text"])), axis=1) == np.array(s["label"])))
''',
        "labels_of_wrong_rows": '''
def sample_accuracy(predict_fn, dataset, n=300, seed=42):
    idx = np.random.default_rng(seed).choice(len(dataset), size=n, replace=False)
    texts = [dataset[int(i)]["text"] for i in idx]
    labels = np.array(dataset["label"][:n])
    return float(np.mean(np.argmax(predict_fn(texts), axis=1) == labels))
''',
    },
    "cls_attention": {
        "column_not_row": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[layer][0].mean(0)
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[:, 0].numpy()
''',
        "max_over_heads": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[layer][0].max(0).values
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[0].numpy()
''',
        "always_last_layer": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[-1][0].mean(0)
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[0].numpy()
''',
        "first_layer_default": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[0][0].mean(0)
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[0].numpy()
''',
        "single_head": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[layer][0][0]
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[0].numpy()
''',
        "no_eval": '''
def cls_attention(model, tokenizer, text, layer=-1):
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[layer][0].mean(0)
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[0].numpy()
''',
        "returns_tensor_with_batch": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[layer].mean(1)
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), att[:, 0]
''',
        "drops_special_tokens": '''
def cls_attention(model, tokenizer, text, layer=-1):
    model.eval(); enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        att = model(**enc, output_attentions=True).attentions[layer][0].mean(0)
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0])[1:-1], att[0].numpy()[1:-1]
''',
    },
    "top_k_tokens": {
        "ascending": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores) if not (skip_special and t in ("[CLS]", "[SEP]", "[PAD]"))]
    return sorted(pairs, key=lambda p: p[1])[:k]
''',
        "skips_first_and_last_only": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores)]
    if skip_special:
        pairs = pairs[1:-1]
    return sorted(pairs, key=lambda p: p[1], reverse=True)[:k]
''',
        "ignores_skip_special_flag": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores) if t not in ("[CLS]", "[SEP]", "[PAD]")]
    return sorted(pairs, key=lambda p: p[1], reverse=True)[:k]
''',
        "abs_sort": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores) if not (skip_special and t in ("[CLS]", "[SEP]", "[PAD]"))]
    return sorted(pairs, key=lambda p: abs(p[1]), reverse=True)[:k]
''',
        "forgets_pad": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores) if not (skip_special and t in ("[CLS]", "[SEP]"))]
    return sorted(pairs, key=lambda p: p[1], reverse=True)[:k]
''',
        "k_off_by_one": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores) if not (skip_special and t in ("[CLS]", "[SEP]", "[PAD]"))]
    return sorted(pairs, key=lambda p: p[1], reverse=True)[:k - 1]
''',
        "dedupes_tokens": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    d = {t: float(s) for t, s in zip(tokens, scores) if not (skip_special and t in ("[CLS]", "[SEP]", "[PAD]"))}
    return sorted(d.items(), key=lambda p: p[1], reverse=True)[:k]
''',
        "tensor_scores_returned": '''
def top_k_tokens(tokens, scores, k=10, skip_special=True):
    pairs = [(t, s) for t, s in zip(tokens, torch.as_tensor(scores)) if not (skip_special and t in ("[CLS]", "[SEP]", "[PAD]"))]
    return sorted(pairs, key=lambda p: float(p[1]), reverse=True)[:k]
''',
    },
    "attention_submatrix": {
        "diagonal_indexing": '''
def attention_submatrix(attn, indices):
    m = np.asarray(attn, dtype=float).reshape(-1, *np.shape(attn)[-2:]).mean(0)
    return m[indices, indices]
''',
        "transposed": '''
def attention_submatrix(attn, indices):
    m = np.asarray(attn, dtype=float).reshape(-1, *np.shape(attn)[-2:]).mean(0)
    return m[np.ix_(indices, indices)].T
''',
        "sorts_indices": '''
def attention_submatrix(attn, indices):
    m = np.asarray(attn, dtype=float).reshape(-1, *np.shape(attn)[-2:]).mean(0)
    idx = sorted(indices)
    return m[np.ix_(idx, idx)]
''',
        "first_head_only": '''
def attention_submatrix(attn, indices):
    m = np.asarray(attn, dtype=float).reshape(-1, *np.shape(attn)[-2:])[0]
    return m[np.ix_(indices, indices)]
''',
        "sum_over_heads": '''
def attention_submatrix(attn, indices):
    m = np.asarray(attn, dtype=float).reshape(-1, *np.shape(attn)[-2:]).sum(0)
    return m[np.ix_(indices, indices)]
''',
        "only_3d_input": '''
def attention_submatrix(attn, indices):
    m = np.asarray(attn, dtype=float).mean(0)
    return m[np.ix_(indices, indices)]
''',
    },
    "rank_agreement": {
        "spearman": '''
def rank_agreement(a, b):
    shared = [w for w in a if w in b]
    if len(shared) < 2: return float("nan")
    return float(scipy.stats.spearmanr([a[w] for w in shared], [b[w] for w in shared]).statistic)
''',
        "pearson": '''
def rank_agreement(a, b):
    shared = [w for w in a if w in b]
    if len(shared) < 2: return float("nan")
    return float(scipy.stats.pearsonr([a[w] for w in shared], [b[w] for w in shared]).statistic)
''',
        "paired_by_dict_order": '''
def rank_agreement(a, b):
    n = min(len(a), len(b))
    if n < 2: return float("nan")
    return float(scipy.stats.kendalltau(list(a.values())[:n], list(b.values())[:n]).statistic)
''',
        "union_with_zeros": '''
def rank_agreement(a, b):
    words = sorted(set(a) | set(b))
    if len(words) < 2: return float("nan")
    return float(scipy.stats.kendalltau([a.get(w, 0.0) for w in words], [b.get(w, 0.0) for w in words]).statistic)
''',
        "absolute_values": '''
def rank_agreement(a, b):
    shared = [w for w in a if w in b]
    if len(shared) < 2: return float("nan")
    return float(scipy.stats.kendalltau([abs(a[w]) for w in shared], [abs(b[w]) for w in shared]).statistic)
''',
        "zero_for_too_few": '''
def rank_agreement(a, b):
    shared = [w for w in a if w in b]
    if len(shared) < 2: return 0.0
    return float(scipy.stats.kendalltau([a[w] for w in shared], [b[w] for w in shared]).statistic)
''',
        "returns_result_object": '''
def rank_agreement(a, b):
    shared = [w for w in a if w in b]
    if len(shared) < 2: return float("nan")
    return scipy.stats.kendalltau([a[w] for w in shared], [b[w] for w in shared])
''',
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
