"""Lab 4 answers the hidden tests are tried on (see answers_lab1.py for the conventions: most WRONG entries are
edits of the reference solution, a full source is kept where the mistake is a different way of writing it)."""

from answer_edits import Edit

# comprehensiveness and sufficiency share their n, k, target and averaging lines: one edit makes the same slip in either
_AOPC_SLIP = {
    "lowest_scores": Edit("mask_top_k(ids, scores,", "mask_top_k(ids, -torch.as_tensor(scores, dtype=torch.float64),"),
    "n_counts_specials": Edit("n = sum(int(t) not in specials for t in ids)", "n = len(ids)"),
    "truncates_k": Edit("max(1, round(f * n))", "max(1, int(f * n))"),
    "truncates_k_no_max": Edit("max(1, round(f * n))", "int(f * n)"),
    "ceils_k": (Edit("    ids = torch.as_tensor(input_ids)", "    import math\n    ids = torch.as_tensor(input_ids)"),
                Edit("max(1, round(f * n))", "max(1, math.ceil(f * n))")),
    "k_can_be_zero": Edit("max(1, round(f * n))", "round(f * n)"),
    "ignores_fractions": Edit("in fractions", "in (0.01, 0.05, 0.1, 0.2, 0.5)"),
    "ignores_target": Edit("if target is None:\n        target", "target"),
    "target_or_predicted": Edit("if target is None:", "if not target:"),  # class 0 treated as "no target"
    "sum_not_mean": Edit("(p[0] - p[1:]).mean()", "(p[0] - p[1:]).sum()"),
    "reversed_sign": Edit("(p[0] - p[1:]).mean()", "(p[1:] - p[0]).mean()"),
}

# performance_drop's two macro-F1 scores, for the slips in the metric or the order of the pair
_F1_PAIR = '''    return (float(sklearn.metrics.f1_score(labels, before, average="macro")),
            float(sklearn.metrics.f1_score(labels, after, average="macro")))'''


def _scored_by(metric: str) -> Edit:
    """performance_drop with `metric(labels, predicted)` in place of macro-F1."""
    return Edit(_F1_PAIR, f"    return (float({metric}(labels, before)), float({metric}(labels, after)))")


WRONG = {
    "mask_top_k": {
        "by_absolute_score": Edit("(-values[i], i)", "(-abs(values[i]), i)"),
        "lowest_scores": Edit("(-values[i], i)", "(values[i], i)"),
        "masks_specials": Edit(" if token not in specials]", "]"),
        "specials_by_position": Edit("if token not in specials", "if 0 < i < len(flat) - 1"),
        "ties_later_first": Edit("(-values[i], i)", "(-values[i], -i)"),
        "unstable_numpy_reversed": Edit("sorted(candidates, key=lambda i: (-values[i], i))[:k]",
                                        "[i for i in np.argsort(np.array(values))[::-1].tolist() if i in candidates][:k]"),
        "in_place": Edit("masked = flat.clone()", "masked = flat"),
        "flattens_2d": Edit("return masked.reshape(ids.shape)", "return masked"),
        "topk_crashes_when_k_large": Edit(
            "sorted(candidates, key=lambda i: (-values[i], i))[:k]",
            "[candidates[j] for j in torch.topk(torch.tensor([values[i] for i in candidates]), k).indices.tolist()]"),
        "k_zero_masks_all": Edit("sorted(candidates, key=lambda i: (-values[i], i))[:k]",
                                 "sorted(candidates, key=lambda i: (values[i], -i))[-k:]"),
        "float_tensor": Edit("masked.reshape(ids.shape)", "masked.reshape(ids.shape).float()"),
        "off_by_one": Edit("[:k]", "[:k + 1]"),
        # specials kept out by a -inf score instead of by leaving them out: with k above the plain tokens, they are masked
        "minus_inf_specials_topk": '''
def mask_top_k(input_ids, scores, k, mask_id, special_ids):
    ids = torch.as_tensor(input_ids).clone()
    flat = ids.reshape(-1)
    s = torch.as_tensor(scores, dtype=torch.float64).reshape(-1).clone()
    for i, t in enumerate(flat.tolist()):
        if t in set(int(x) for x in special_ids):
            s[i] = float("-inf")
    order = torch.argsort(s, descending=True, stable=True)[:k]
    flat[order] = mask_id
    return ids
''',
    },
    "comprehensiveness": {
        "is_sufficiency": Edit(
            "variants = [mask_top_k(ids, scores, max(1, round(f * n)), mask_id, specials) for f in fractions]",
            "keep = [(mask_top_k(ids, scores, max(1, round(f * n)), mask_id, specials) != ids)\n"
            "            | torch.tensor([int(t) in specials for t in ids]) for f in fractions]\n"
            "    variants = [torch.where(kept, ids, torch.full_like(ids, mask_id)) for kept in keep]"),
        "masks_lowest": _AOPC_SLIP["lowest_scores"],
        "masks_specials": Edit("mask_id, specials)", "mask_id, set())"),
        "n_counts_specials": _AOPC_SLIP["n_counts_specials"],
        "truncates_k": _AOPC_SLIP["truncates_k"],
        "truncates_k_no_max": _AOPC_SLIP["truncates_k_no_max"],
        "ceils_k": _AOPC_SLIP["ceils_k"],
        "k_can_be_zero": _AOPC_SLIP["k_can_be_zero"],
        "ignores_fractions": _AOPC_SLIP["ignores_fractions"],
        "ignores_target": _AOPC_SLIP["ignores_target"],
        "target_or_predicted": _AOPC_SLIP["target_or_predicted"],
        "argmax_per_variant": Edit("probs[0]).argmax()", "probs[-1]).argmax()"),
        "absolute_difference": Edit("(p[0] - p[1:]).mean()", "(p[0] - p[1:]).abs().mean()"),
        "sum_not_mean": _AOPC_SLIP["sum_not_mean"],
        "eraser_zero_bin": Edit("(p[0] - p[1:]).mean()", "(p[0] - p[1:]).sum() / (len(p[1:]) + 1)"),
        "reversed_sign": _AOPC_SLIP["reversed_sign"],
        "least_confident_target": Edit("probs[0]).argmax()", "probs[0]).argmin()"),
    },
    "sufficiency": {
        "is_comprehensiveness": Edit("torch.where(keep, ids, torch.full_like(ids, mask_id))",
                                     "torch.where(top, torch.full_like(ids, mask_id), ids)"),
        "keeps_lowest": _AOPC_SLIP["lowest_scores"],
        "masks_specials": Edit("torch.where(keep,", "torch.where(top,"),
        "n_counts_specials": _AOPC_SLIP["n_counts_specials"],
        "truncates_k": _AOPC_SLIP["truncates_k"],
        "truncates_k_no_max": _AOPC_SLIP["truncates_k_no_max"],
        "ceils_k": _AOPC_SLIP["ceils_k"],
        "k_can_be_zero": _AOPC_SLIP["k_can_be_zero"],
        "ignores_target": _AOPC_SLIP["ignores_target"],
        "target_or_predicted": _AOPC_SLIP["target_or_predicted"],
        "reversed_sign": _AOPC_SLIP["reversed_sign"],
        "ignores_fractions": _AOPC_SLIP["ignores_fractions"],
        "sum_not_mean": _AOPC_SLIP["sum_not_mean"],
    },
    "performance_drop": {
        "accuracy": _scored_by("sklearn.metrics.accuracy_score"),
        "micro_f1": _scored_by("(lambda y, p: sklearn.metrics.f1_score(y, p, average='micro'))"),
        "weighted_f1": _scored_by("(lambda y, p: sklearn.metrics.f1_score(y, p, average='weighted'))"),
        "by_absolute_score": Edit("(-scores[i], i)", "(-abs(scores[i]), i)"),
        "lowest_scores": Edit("(-scores[i], i)", "(scores[i], i)"),
        "ties_later_first": Edit("(-scores[i], i)", "(-scores[i], -i)"),
        "ignores_mask_token": Edit("mask_token if i in top", '"[MASK]" if i in top'),
        "deletes_words": Edit('" ".join(mask_token if i in top else w for i, w in enumerate(words))',
                              '" ".join(w for i, w in enumerate(words) if i not in top)'),
        "argpartition_crashes_short_texts": Edit("set(sorted(range(len(words)), key=lambda i: (-scores[i], i))[:k])",
                                                 "set(np.argpartition(-np.array(scores), k)[:k].tolist())"),
        "swapped_return": Edit(_F1_PAIR, '''    return (float(sklearn.metrics.f1_score(labels, after, average="macro")),
            float(sklearn.metrics.f1_score(labels, before, average="macro")))'''),
        # every occurrence of a top word masked, not the top-k positions
        "masks_every_copy": Edit("mask_token if i in top else w", "mask_token if w in {words[j] for j in top} else w"),
        "last_k_of_ascending": Edit("sorted(range(len(words)), key=lambda i: (-scores[i], i))[:k]",
                                    "sorted(range(len(words)), key=lambda i: scores[i])[-k:]"),  # ties: later first
        "one_word_less": Edit("[:k]", "[:k - 1]"),
        "mask_char_by_char": Edit('''        top = set(sorted(range(len(words)), key=lambda i: (-scores[i], i))[:k])
        masked_texts.append(" ".join(mask_token if i in top else w for i, w in enumerate(words)))
''', '''        for i in sorted(range(len(words)), key=lambda i: (-scores[i], i))[:k]:
            text = text.replace(words[i], mask_token, 1)
        masked_texts.append(text)
'''),
    },
    "stability": {
        "edited_class": Edit("np.argmax(p, axis=1)", "np.argmax(q, axis=1)"),
        "signed_prediction_change": Edit(
            "np.abs(q[np.arange(len(texts)), classes] - p[np.arange(len(texts)), classes])",
            "q[np.arange(len(texts)), classes] - p[np.arange(len(texts)), classes]"),
        "signed_score_change": Edit("np.mean(np.abs(b - a))", "np.mean(b - a)"),
        "sum_not_mean": Edit("np.mean(np.abs(b - a))", "np.sum(np.abs(b - a))"),
        "max_not_mean": Edit("np.mean(np.abs(b - a))", "np.max(np.abs(b - a))"),
        "l2_norm": Edit("np.mean(np.abs(b - a))", "np.linalg.norm(b - a)"),
        "change_of_mean_score": Edit("np.mean(np.abs(b - a))", "abs(b.mean() - a.mean())"),
        "last_words_of_edit": Edit("explain_fn(other), dtype=float)[:n]", "explain_fn(other), dtype=float)[-n:]"),
        "suffix_words_kept": (Edit("explain_fn(other), dtype=float)[:n]", "explain_fn(other), dtype=float)"),
                              Edit("np.mean(np.abs(b - a))", "np.mean(np.abs(b - np.pad(a, (0, len(b) - len(a)))))")),
        "all_classes_change": Edit(
            "np.abs(q[np.arange(len(texts)), classes] - p[np.arange(len(texts)), classes])", "np.abs(q - p).sum(axis=1)"),
        "swapped_order": Edit('''    return (float(scipy.stats.pearsonr(prediction_change, explanation_change).statistic),
            float(scipy.stats.spearmanr(prediction_change, explanation_change).statistic))''',
                              '''    return (float(scipy.stats.spearmanr(prediction_change, explanation_change).statistic),
            float(scipy.stats.pearsonr(prediction_change, explanation_change).statistic))'''),
        "p_values": (Edit("explanation_change).statistic),\n", "explanation_change).pvalue),\n"),
                     Edit("explanation_change).statistic))", "explanation_change).pvalue))")),
        "kendall_not_spearman": Edit("spearmanr", "kendalltau"),
    },
    "rationale_agreement": {
        "roc_auc": Edit("average_precision_score(gold, scores)", "roc_auc_score(gold, scores)"),
        "by_absolute_score": Edit("(-scores[i], i)", "(-abs(scores[i]), i)"),
        "lowest_scores": Edit("(-scores[i], i)", "(scores[i], i)"),
        "ties_later_first": Edit("(-scores[i], i)", "(-scores[i], -i)"),
        "k_defaults_to_all": Edit("k = sum(gold)", "k = len(scores)"),
        "k_defaults_to_one": Edit("k = sum(gold)", "k = 1"),
        "precision_not_f1": Edit("f1_score(gold, selected, zero_division=0.0)",
                                 "precision_score(gold, selected, zero_division=0.0)"),
        "macro_f1": Edit("f1_score(gold, selected, zero_division=0.0)", "f1_score(gold, selected, average='macro')"),
        "ap_of_selection": Edit("average_precision_score(gold, scores)", "average_precision_score(gold, selected)"),
        "last_k_of_ascending": Edit("sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]",
                                    "sorted(range(len(scores)), key=lambda i: scores[i])[-k:]"),
        "ignores_k": Edit("[:k]", "[:sum(gold)]"),
        "auc_of_pr_curve_trapezoid": Edit(
            "sklearn.metrics.average_precision_score(gold, scores)",
            "sklearn.metrics.auc(*sklearn.metrics.precision_recall_curve(gold, scores)[1::-1])"),
    },
}

ALTERNATIVES = {
    "mask_top_k": {
        "torch_stable_argsort": '''
def mask_top_k(input_ids, scores, k, mask_id, special_ids):
    out = torch.as_tensor(input_ids).clone()
    flat = out.view(-1)
    s = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    special = torch.isin(flat, torch.tensor(sorted(int(t) for t in special_ids), dtype=flat.dtype))
    order = torch.argsort(s.masked_fill(special, float("-inf")), descending=True, stable=True)
    order = order[: min(k, int((~special).sum()))]
    flat[order] = mask_id
    return out
''',
        "numpy_lexsort": '''
def mask_top_k(input_ids, scores, k, mask_id, special_ids):
    ids = torch.as_tensor(input_ids)
    arr = ids.reshape(-1).numpy().copy()
    s = np.asarray(torch.as_tensor(scores, dtype=torch.float64)).reshape(-1)
    ok = np.flatnonzero(~np.isin(arr, list(special_ids)))
    order = ok[np.lexsort((ok, -s[ok]))][:k]
    arr[order] = mask_id
    return torch.from_numpy(arr).reshape(ids.shape).long()
''',
        "heapq_loop": '''
import heapq

def mask_top_k(input_ids, scores, k, mask_id, special_ids):
    ids = torch.as_tensor(input_ids)
    tokens = ids.flatten().tolist()
    values = [float(x) for x in torch.as_tensor(scores).flatten()]
    pool = [(-values[i], i) for i, t in enumerate(tokens) if t not in set(special_ids)]
    for _, i in heapq.nsmallest(k, pool):
        tokens[i] = mask_id
    return torch.tensor(tokens, dtype=torch.long).reshape(ids.shape)
''',
        "list_scores_loop": '''
def mask_top_k(input_ids, scores, k, mask_id, special_ids):
    shape = torch.as_tensor(input_ids).shape
    tokens = [int(t) for t in torch.as_tensor(input_ids).reshape(-1)]
    vals = list(np.asarray(scores, dtype=float).reshape(-1)) if not torch.is_tensor(scores) else scores.reshape(-1).tolist()
    chosen = []
    for _ in range(k):
        best = None
        for i, t in enumerate(tokens):
            if t in special_ids or i in chosen:
                continue
            if best is None or vals[i] > vals[best]:
                best = i
        if best is None:
            break
        chosen.append(best)
    new = list(tokens)
    for i in chosen:
        new[i] = mask_id
    return torch.tensor(new).reshape(shape)
''',
    },
    "comprehensiveness": {
        "one_call_per_variant": '''
def comprehensiveness(prob_fn, input_ids, scores, mask_id, special_ids, target=None, fractions=(0.01, 0.05, 0.1, 0.2, 0.5)):
    x = torch.as_tensor(input_ids).view(-1)
    full = prob_fn(x.unsqueeze(0))[0]
    c = int(torch.argmax(full)) if target is None else target
    n = len([t for t in x.tolist() if t not in special_ids])
    drops = []
    for f in fractions:
        masked = mask_top_k(x, scores, max(1, round(f * n)), mask_id, special_ids)
        drops.append(float(full[c]) - float(prob_fn(masked.unsqueeze(0))[0][c]))
    return sum(drops) / len(drops)
''',
        "float32_numpy": '''
def comprehensiveness(prob_fn, input_ids, scores, mask_id, special_ids, target=None, fractions=(0.01, 0.05, 0.1, 0.2, 0.5)):
    ids = torch.as_tensor(input_ids).reshape(-1)
    n = int(sum(int(t) not in special_ids for t in ids))
    ks = [max(1, int(f * n + 0.5)) for f in fractions]
    batch = torch.stack([ids] + [mask_top_k(ids, scores, k, mask_id, special_ids) for k in ks])
    probs = np.asarray(prob_fn(batch), dtype=np.float32)
    target = probs[0].argmax() if target is None else target
    return float(np.mean(probs[0, target] - probs[1:, target]))
''',
    },
    "sufficiency": {
        # the reference with its one idea put another way: keep the top k by masking the n - k lowest
        "complement_as_lowest": Edit('''        top = mask_top_k(ids, scores, max(1, round(f * n)), mask_id, specials) != ids
        keep = top | torch.tensor([int(t) in specials for t in ids])
        variants.append(torch.where(keep, ids, torch.full_like(ids, mask_id)))
''', '''        lowest = -torch.as_tensor(scores, dtype=torch.float64)
        variants.append(mask_top_k(ids, lowest, n - max(1, round(f * n)), mask_id, specials))
'''),
        "one_call_per_variant": '''
def sufficiency(prob_fn, input_ids, scores, mask_id, special_ids, target=None, fractions=(0.01, 0.05, 0.1, 0.2, 0.5)):
    x = torch.as_tensor(input_ids).view(-1)
    full = prob_fn(x[None])[0]
    c = int(full.argmax()) if target is None else target
    plain = [i for i, t in enumerate(x.tolist()) if t not in special_ids]
    order = sorted(plain, key=lambda i: (-float(scores[i]), i))
    values = []
    for f in fractions:
        k = max(1, round(f * len(plain)))
        only = x.clone()
        for i in order[k:]:
            only[i] = mask_id
        values.append(float(full[c] - prob_fn(only[None])[0][c]))
    return float(np.mean(values))
''',
    },
    "performance_drop": {
        "numpy_stable_argsort": '''
def performance_drop(predict_fn, texts, labels, explain_fn, k=20, mask_token="[MASK]"):
    new_texts = []
    for t in texts:
        w = np.array(t.split(), dtype=object)
        order = np.argsort(-np.asarray(explain_fn(t), dtype=float), kind="stable")[:k]
        w[order] = mask_token
        new_texts.append(" ".join(w))
    f1 = lambda ts: sklearn.metrics.f1_score(labels, predict_fn(list(ts)).argmax(axis=1), average="macro")
    return float(f1(texts)), float(f1(new_texts))
''',
        "per_text_prediction": '''
from sklearn.metrics import f1_score

def performance_drop(predict_fn, texts, labels, explain_fn, k=20, mask_token="[MASK]"):
    before, after = [], []
    for text in texts:
        words = text.split()
        scores = list(explain_fn(text))
        ranked = sorted(range(len(words)), key=lambda i: scores[i], reverse=True)  # sorted() is stable
        for i in ranked[:k]:
            words[i] = mask_token
        before.append(int(np.argmax(predict_fn([text])[0])))
        after.append(int(np.argmax(predict_fn([" ".join(words)])[0])))
    return float(f1_score(labels, before, average="macro")), float(f1_score(labels, after, average="macro"))
''',
        # macro-F1 is symmetric in its two arguments
        "f1_arguments_swapped": (Edit("f1_score(labels, before,", "f1_score(before, labels,"),
                                 Edit("f1_score(labels, after,", "f1_score(after, labels,")),
    },
    "stability": {
        "pure_python_and_corrcoef": '''
def stability(predict_fn, explain_fn, texts, suffix=" Bye."):
    dp, de = [], []
    for text in texts:
        p0 = predict_fn([text])[0]
        p1 = predict_fn([text + suffix])[0]
        c = max(range(len(p0)), key=lambda j: p0[j])
        dp.append(abs(p1[c] - p0[c]))
        n = len(text.split())
        e0, e1 = list(explain_fn(text)), list(explain_fn(text + suffix))[:n]
        de.append(sum(abs(x - y) for x, y in zip(e0, e1)) / n)
    pearson = np.corrcoef(dp, de)[0, 1]
    rank = lambda v: scipy.stats.rankdata(v)
    spearman = np.corrcoef(rank(dp), rank(de))[0, 1]
    return float(pearson), float(spearman)
''',
        "pandas_corr": '''
import pandas as pd

def stability(predict_fn, explain_fn, texts, suffix=" Bye."):
    texts = list(texts)
    p = predict_fn(texts)
    q = predict_fn([t + suffix for t in texts])
    c = p.argmax(1)
    frame = pd.DataFrame({
        "dp": np.abs(q[np.arange(len(c)), c] - p[np.arange(len(c)), c]),
        "de": [np.abs(np.subtract(explain_fn(t + suffix)[:len(t.split())], explain_fn(t))).mean() for t in texts],
    })
    return float(frame.dp.corr(frame.de)), float(frame.dp.corr(frame.de, method="spearman"))
''',
        "torch_float32_probs": Edit(
            "np.abs(q[np.arange(len(texts)), classes] - p[np.arange(len(texts)), classes])",
            "torch.tensor(q[np.arange(len(texts)), classes] - p[np.arange(len(texts)), classes], dtype=torch.float32)"
            ".abs().numpy()"),
    },
    "rationale_agreement": {
        "manual_f1": '''
def rationale_agreement(scores, gold_mask, k=None):
    s = np.asarray(scores, dtype=float)
    g = np.asarray(gold_mask).astype(int)
    k = int(g.sum()) if k is None else k
    top = np.argsort(-s, kind="stable")[:k]
    tp = int(g[top].sum())
    precision = tp / k if k else 0.0
    recall = tp / g.sum() if g.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"token_f1": float(f1), "auprc": float(sklearn.metrics.average_precision_score(g, s))}
''',
        "imported_names": '''
from sklearn.metrics import average_precision_score, f1_score

def rationale_agreement(scores, gold_mask, k=None):
    scores = list(map(float, scores))
    if k is None:
        k = int(sum(gold_mask))
    ranked = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)[:k]
    pred = [1 if i in ranked else 0 for i in range(len(scores))]
    return dict(token_f1=float(f1_score(list(gold_mask), pred)), auprc=float(average_precision_score(list(gold_mask), scores)))
''',
    },
}

# One mistake, the tests that fail for it (visible tests included): every other test passes.
# comprehensiveness and sufficiency call mask_top_k: their hidden tests use a reference one, and their visible
# tests skip the value checks (saying why) when mask_top_k is wrong on their input, so a mistake in mask_top_k
# costs points in its own tests only.
ISOLATED = {
    "mask_top_k": {
        "masks_specials": {"test_mask_top_k_visible", "test_mask_top_k_hidden"},
        "lowest_scores": {"test_mask_top_k_visible", "test_mask_top_k_hidden"},
    },
    "comprehensiveness": {
        "truncates_k": {"test_comprehensiveness_visible", "test_comprehensiveness_hidden"},
        "k_can_be_zero": {"test_comprehensiveness_visible", "test_comprehensiveness_hidden"},
        "is_sufficiency": {"test_comprehensiveness_visible", "test_comprehensiveness_hidden"},
        "masks_lowest": {"test_comprehensiveness_visible", "test_comprehensiveness_hidden"},
    },
    "sufficiency": {
        "truncates_k": {"test_sufficiency_visible", "test_sufficiency_hidden"},
        "is_comprehensiveness": {"test_sufficiency_visible", "test_sufficiency_hidden"},
    },
    "performance_drop": {
        "lowest_scores": {"test_performance_drop_visible", "test_performance_drop_hidden"},
        "by_absolute_score": {"test_performance_drop_visible", "test_performance_drop_hidden"},
    },
}

# The commonest slips, caught by the visible test under the exercise with a message naming the cause
# (see answers_lab1.py): wrong-answer label -> a regex the visible test's message must match.
VISIBLE = {
    "mask_top_k": {
        "by_absolute_score": r"rank by the signed score",
        "specials_by_position": r"wherever it stands",
        "ties_later_first": r"earlier first",
        "minus_inf_specials_topk": r"no special token",
        "k_zero_masks_all": r"k=0 should mask nothing",
    },
    "comprehensiveness": {
        "masks_specials": r"special tokens are never masked",
        "ignores_target": r"`target or predicted` treats class 0 as missing",
        "absolute_difference": r"no abs\(\)",
        "ceils_k": r"math\.ceil gives 2",
        "argmax_per_variant": r"class predicted for the unmasked input",
        "n_counts_specials": r"NON-special",
    },
    "sufficiency": {
        "masks_specials": r"masked the special tokens too",
        "ignores_target": r"`target or predicted` treats class 0 as missing",
        "ceils_k": r"math\.ceil gives 2",
        "sum_not_mean": r"sum over the fractions",
    },
    "performance_drop": {
        "by_absolute_score": r"signed score, not by \|score\|",
        "ties_later_first": r"mask the earlier word first",
        "weighted_f1": r"weighted F1",
        "accuracy": r"that is the accuracy",
        "deletes_words": r"do not delete them",
        "ignores_mask_token": r"use the mask_token argument",
        "mask_char_by_char": r"not substrings",
        "argpartition_crashes_short_texts": r"fewer words than k",
        "masks_every_copy": r"top-k POSITIONS, not every occurrence",
    },
    "stability": {
        "signed_score_change": r"score changes are signed",
        "signed_prediction_change": r"prediction change is signed",
        "edited_class": r"class predicted for x \+ suffix",
        "all_classes_change": r"changes of every class",
        "kendall_not_spearman": r"Kendall's tau; use Spearman",
        "swapped_order": r"pair is swapped",
        "max_not_mean": r"largest change",
        "change_of_mean_score": r"change of the mean score",
        "suffix_words_kept": r"leave the suffix's words out",
    },
    "rationale_agreement": {
        "roc_auc": r"ROC-AUC.*average_precision_score",
        "by_absolute_score": r"signed score, not \|score\|",
        "ties_later_first": r"break ties by position",
        "precision_not_f1": r"that is the precision",
        "macro_f1": r"macro F1",
        "ignores_k": r"use the k given",
    },
}
