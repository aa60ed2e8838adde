"""Lab 4 answers the hidden tests are tried on (see answers_lab1.py for the conventions)."""

# ---------------------------------------------------------------- mask_top_k
_MASK = '''
def mask_top_k(input_ids, scores, k, mask_id, special_ids):
    ids = torch.as_tensor(input_ids)
    flat = {flat}
    s = [float(v) for v in torch.as_tensor(scores, dtype=torch.float64).reshape(-1)]
    specials = {{int(t) for t in special_ids}}
    candidates = [i for i, t in enumerate(flat.tolist()) if {keep}]
    chosen = {chosen}
    masked = {copy}
    masked[chosen] = mask_id
    return {result}
'''


def _mask(flat="ids.reshape(-1).clone()", keep="t not in specials",
          chosen="sorted(candidates, key=lambda i: (-s[i], i))[:k]", copy="flat.clone()",
          result="masked.reshape(ids.shape)"):
    return _MASK.format(flat=flat, keep=keep, chosen=chosen, copy=copy, result=result)


# ---------------------------------------------------------------- comprehensiveness / sufficiency
_AOPC = '''
def {name}(prob_fn, input_ids, scores, mask_id, special_ids, target=None, fractions=(0.01, 0.05, 0.1, 0.2, 0.5)):
    ids = torch.as_tensor(input_ids).reshape(-1)
    specials = {{int(t) for t in special_ids}}
    is_special = torch.tensor([int(t) in specials for t in ids])
    n = {n}
    variants = []
    for f in {fractions}:
        k = {k}
        top = mask_top_k(ids, {scores}, k, mask_id, {mask_specials}) != ids
        {variant}
    probs = torch.as_tensor(prob_fn(torch.stack([ids, *variants]))).double()
    if {no_target}:
        target = {default_target}
    p = probs[:, target]
    return float({reduce})
'''

_COMPREHENSIVE = "variants.append(torch.where(top, torch.full_like(ids, mask_id), ids))"
_SUFFICIENT = "variants.append(torch.where(top | is_special, ids, torch.full_like(ids, mask_id)))"


def _aopc(name="comprehensiveness", variant=None, n="int((~is_special).sum())", fractions="fractions",
          k="max(1, round(f * n))", scores="scores", mask_specials="specials", no_target="target is None",
          default_target="int(probs[0].argmax())", reduce="(p[0] - p[1:]).mean()"):
    if variant is None:
        variant = _COMPREHENSIVE if name == "comprehensiveness" else _SUFFICIENT
    return _AOPC.format(name=name, variant=variant, n=n, fractions=fractions, k=k, scores=scores,
                        mask_specials=mask_specials, no_target=no_target, default_target=default_target,
                        reduce=reduce)


# ---------------------------------------------------------------- performance_drop
_DROP = '''
def performance_drop(predict_fn, texts, labels, explain_fn, k=20, mask_token="[MASK]"):
    texts = list(texts)
    masked = []
    for text in texts:
        words = text.split()
        s = [float(v) for v in explain_fn(text)]
        top = set({top})
        masked.append({join}.join({token} if i in top else w for i, w in enumerate(words)))
    before = np.argmax(predict_fn(texts), axis=1)
    after = np.argmax(predict_fn(masked), axis=1)
    return (float({metric}(labels, before)), float({metric}(labels, after)))
'''

_MACRO = "(lambda y, p: sklearn.metrics.f1_score(y, p, average='macro'))"


def _drop(top="sorted(range(len(words)), key=lambda i: (-s[i], i))[:k]", join='" "', token="mask_token",
          metric=_MACRO):
    return _DROP.format(top=top, join=join, token=token, metric=metric)


# ---------------------------------------------------------------- stability
_STABILITY = '''
def stability(predict_fn, explain_fn, texts, suffix=" Bye."):
    texts = list(texts)
    edited = [t + suffix for t in texts]
    p, q = np.asarray(predict_fn(texts)), np.asarray(predict_fn(edited))
    rows = np.arange(len(texts))
    c = {classes}
    dp = {dp}
    de = []
    for t, e in zip(texts, edited):
        n = len(t.split())
        a = np.asarray(explain_fn(t), dtype=float)
        b = np.asarray(explain_fn(e), dtype=float)
        de.append({de})
    return {result}
'''


def _stability(classes="p.argmax(axis=1)", dp="np.abs(q[rows, c] - p[rows, c])",
               de="np.mean(np.abs(b[:n] - a[:n]))",
               result="(float(scipy.stats.pearsonr(dp, de).statistic), float(scipy.stats.spearmanr(dp, de).statistic))"):
    return _STABILITY.format(classes=classes, dp=dp, de=de, result=result)


# ---------------------------------------------------------------- rationale_agreement
_AGREE = '''
def rationale_agreement(scores, gold_mask, k=None):
    s = [float(v) for v in scores]
    gold = [int(g) for g in gold_mask]
    if k is None:
        k = {default_k}
    top = set({top})
    selected = [int(i in top) for i in range(len(s))]
    return {{"token_f1": float({f1}), "auprc": float({auprc})}}
'''


def _agree(default_k="sum(gold)", top="sorted(range(len(s)), key=lambda i: (-s[i], i))[:k]",
           f1="sklearn.metrics.f1_score(gold, selected, zero_division=0.0)",
           auprc="sklearn.metrics.average_precision_score(gold, s)"):
    return _AGREE.format(default_k=default_k, top=top, f1=f1, auprc=auprc)


WRONG = {
    "mask_top_k": {
        "by_absolute_score": _mask(chosen="sorted(candidates, key=lambda i: (-abs(s[i]), i))[:k]"),
        "lowest_scores": _mask(chosen="sorted(candidates, key=lambda i: (s[i], i))[:k]"),
        "masks_specials": _mask(keep="True"),
        "specials_by_position": _mask(keep="0 < i < len(flat) - 1"),
        "ties_later_first": _mask(chosen="sorted(candidates, key=lambda i: (-s[i], -i))[:k]"),
        "unstable_numpy_reversed": _mask(
            chosen="[i for i in np.argsort(np.array(s))[::-1].tolist() if i in candidates][:k]"),
        "in_place": _mask(flat="ids.reshape(-1)", copy="flat"),
        "flattens_2d": _mask(result="masked"),
        "topk_crashes_when_k_large": _mask(
            chosen="[candidates[j] for j in torch.topk(torch.tensor([s[i] for i in candidates]), k).indices.tolist()]"),
        "k_zero_masks_all": _mask(chosen="sorted(candidates, key=lambda i: (s[i], -i))[-k:]"),
        "float_tensor": _mask(result="masked.reshape(ids.shape).float()"),
        "off_by_one": _mask(chosen="sorted(candidates, key=lambda i: (-s[i], i))[:k + 1]"),
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
        "is_sufficiency": _aopc(variant=_SUFFICIENT),
        "masks_lowest": _aopc(scores="-torch.as_tensor(scores, dtype=torch.float64)"),
        "masks_specials": _aopc(mask_specials="set()"),
        "n_counts_specials": _aopc(n="len(ids)"),
        "truncates_k": _aopc(k="max(1, int(f * n))"),
        "truncates_k_no_max": _aopc(k="int(f * n)"),
        "ceils_k": _aopc(k="max(1, __import__(\"math\").ceil(f * n))"),
        "k_can_be_zero": _aopc(k="round(f * n)"),
        "ignores_fractions": _aopc(fractions="(0.01, 0.05, 0.1, 0.2, 0.5)"),
        "ignores_target": _aopc(no_target="True"),
        "target_or_predicted": _aopc(no_target="not target"),  # class 0 treated as "no target"
        "argmax_per_variant": _aopc(default_target="int(probs[-1].argmax())"),
        "absolute_difference": _aopc(reduce="(p[0] - p[1:]).abs().mean()"),
        "sum_not_mean": _aopc(reduce="(p[0] - p[1:]).sum()"),
        "eraser_zero_bin": _aopc(reduce="(p[0] - p[1:]).sum() / (len(p[1:]) + 1)"),
        "reversed_sign": _aopc(reduce="(p[1:] - p[0]).mean()"),
        "least_confident_target": _aopc(default_target="int(probs[0].argmin())"),
    },
    "sufficiency": {
        "is_comprehensiveness": _aopc("sufficiency", variant=_COMPREHENSIVE),
        "keeps_lowest": _aopc("sufficiency", scores="-torch.as_tensor(scores, dtype=torch.float64)"),
        "masks_specials": _aopc("sufficiency", variant="variants.append(torch.where(top, ids, torch.full_like(ids, mask_id)))"),
        "n_counts_specials": _aopc("sufficiency", n="len(ids)"),
        "truncates_k": _aopc("sufficiency", k="max(1, int(f * n))"),
        "truncates_k_no_max": _aopc("sufficiency", k="int(f * n)"),
        "ceils_k": _aopc("sufficiency", k="max(1, __import__(\"math\").ceil(f * n))"),
        "k_can_be_zero": _aopc("sufficiency", k="round(f * n)"),
        "ignores_target": _aopc("sufficiency", no_target="True"),
        "target_or_predicted": _aopc("sufficiency", no_target="not target"),
        "reversed_sign": _aopc("sufficiency", reduce="(p[1:] - p[0]).mean()"),
        "ignores_fractions": _aopc("sufficiency", fractions="(0.01, 0.05, 0.1, 0.2, 0.5)"),
        "sum_not_mean": _aopc("sufficiency", reduce="(p[0] - p[1:]).sum()"),
    },
    "performance_drop": {
        "accuracy": _drop(metric="sklearn.metrics.accuracy_score"),
        "micro_f1": _drop(metric="(lambda y, p: sklearn.metrics.f1_score(y, p, average='micro'))"),
        "weighted_f1": _drop(metric="(lambda y, p: sklearn.metrics.f1_score(y, p, average='weighted'))"),
        "by_absolute_score": _drop(top="sorted(range(len(words)), key=lambda i: (-abs(s[i]), i))[:k]"),
        "lowest_scores": _drop(top="sorted(range(len(words)), key=lambda i: (s[i], i))[:k]"),
        "ties_later_first": _drop(top="sorted(range(len(words)), key=lambda i: (-s[i], -i))[:k]"),
        "ignores_mask_token": _drop(token='"[MASK]"'),
        "deletes_words": '''
def performance_drop(predict_fn, texts, labels, explain_fn, k=20, mask_token="[MASK]"):
    texts = list(texts)
    masked = []
    for text in texts:
        words = text.split()
        s = [float(v) for v in explain_fn(text)]
        top = set(sorted(range(len(words)), key=lambda i: (-s[i], i))[:k])
        masked.append(" ".join(w for i, w in enumerate(words) if i not in top))
    before = np.argmax(predict_fn(texts), axis=1)
    after = np.argmax(predict_fn(masked), axis=1)
    f1 = lambda p: float(sklearn.metrics.f1_score(labels, p, average="macro"))
    return f1(before), f1(after)
''',
        "argpartition_crashes_short_texts": _drop(top="np.argpartition(-np.array(s), k)[:k].tolist()"),
        "swapped_return": '''
def performance_drop(predict_fn, texts, labels, explain_fn, k=20, mask_token="[MASK]"):
    masked = []
    for text in texts:
        words, s = text.split(), list(explain_fn(text))
        top = sorted(range(len(words)), key=lambda i: (-s[i], i))[:k]
        masked.append(" ".join(mask_token if i in top else w for i, w in enumerate(words)))
    f1 = lambda ts: float(sklearn.metrics.f1_score(labels, np.argmax(predict_fn(list(ts)), axis=1), average="macro"))
    return f1(masked), f1(texts)
''',
        # every occurrence of a top word masked, not the top-k positions
        "masks_every_copy": _drop(top="[j for j, w in enumerate(words) "
                                      "if w in {words[i] for i in sorted(range(len(words)), key=lambda i: (-s[i], i))[:k]}]"),
        "last_k_of_ascending": _drop(top="sorted(range(len(words)), key=lambda i: s[i])[-k:]"),  # ties: later first
        "one_word_less": _drop(top="sorted(range(len(words)), key=lambda i: (-s[i], i))[:k - 1]"),
        "mask_char_by_char": '''
def performance_drop(predict_fn, texts, labels, explain_fn, k=20, mask_token="[MASK]"):
    texts = list(texts)
    masked = []
    for text in texts:
        words = text.split()
        s = [float(v) for v in explain_fn(text)]
        for i in sorted(range(len(words)), key=lambda i: (-s[i], i))[:k]:
            text = text.replace(words[i], mask_token, 1)
        masked.append(text)
    before = np.argmax(predict_fn(texts), axis=1)
    after = np.argmax(predict_fn(masked), axis=1)
    f1 = lambda p: float(sklearn.metrics.f1_score(labels, p, average="macro"))
    return f1(before), f1(after)
''',
    },
    "stability": {
        "edited_class": _stability(classes="q.argmax(axis=1)"),
        "signed_prediction_change": _stability(dp="q[rows, c] - p[rows, c]"),
        "signed_score_change": _stability(de="np.mean(b[:n] - a[:n])"),
        "sum_not_mean": _stability(de="np.sum(np.abs(b[:n] - a[:n]))"),
        "max_not_mean": _stability(de="np.max(np.abs(b[:n] - a[:n]))"),
        "l2_norm": _stability(de="np.linalg.norm(b[:n] - a[:n])"),
        "change_of_mean_score": _stability(de="abs(b[:n].mean() - a[:n].mean())"),
        "last_words_of_edit": _stability(de="np.mean(np.abs(b[-n:] - a[:n]))"),
        "suffix_words_kept": _stability(de="np.mean(np.abs(b - np.pad(a, (0, len(b) - len(a)))))"),
        "all_classes_change": _stability(dp="np.abs(q - p).sum(axis=1)"),
        "swapped_order": _stability(
            result="(float(scipy.stats.spearmanr(dp, de).statistic), float(scipy.stats.pearsonr(dp, de).statistic))"),
        "p_values": _stability(
            result="(float(scipy.stats.pearsonr(dp, de).pvalue), float(scipy.stats.spearmanr(dp, de).pvalue))"),
        "kendall_not_spearman": _stability(
            result="(float(scipy.stats.pearsonr(dp, de).statistic), float(scipy.stats.kendalltau(dp, de).statistic))"),
    },
    "rationale_agreement": {
        "roc_auc": _agree(auprc="sklearn.metrics.roc_auc_score(gold, s)"),
        "by_absolute_score": _agree(top="sorted(range(len(s)), key=lambda i: (-abs(s[i]), i))[:k]"),
        "lowest_scores": _agree(top="sorted(range(len(s)), key=lambda i: (s[i], i))[:k]"),
        "ties_later_first": _agree(top="sorted(range(len(s)), key=lambda i: (-s[i], -i))[:k]"),
        "k_defaults_to_all": _agree(default_k="len(s)"),
        "k_defaults_to_one": _agree(default_k="1"),
        "precision_not_f1": _agree(f1="sklearn.metrics.precision_score(gold, selected, zero_division=0.0)"),
        "macro_f1": _agree(f1="sklearn.metrics.f1_score(gold, selected, average='macro')"),
        "ap_of_selection": _agree(auprc="sklearn.metrics.average_precision_score(gold, selected)"),
        "last_k_of_ascending": _agree(top="sorted(range(len(s)), key=lambda i: s[i])[-k:]"),
        "ignores_k": _agree(top="sorted(range(len(s)), key=lambda i: (-s[i], i))[:sum(gold)]"),
        "auc_of_pr_curve_trapezoid": _agree(
            auprc="sklearn.metrics.auc(*sklearn.metrics.precision_recall_curve(gold, s)[1::-1])"),
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
        "complement_as_lowest": _aopc("sufficiency", variant="variants.append(mask_top_k(ids, -torch.as_tensor(scores, "
                                                             "dtype=torch.float64), int((~is_special).sum()) - k, "
                                                             "mask_id, specials))"),
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
        "f1_arguments_swapped": _drop(metric="(lambda y, p: sklearn.metrics.f1_score(p, y, average='macro'))"),
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
        "torch_float32_probs": _stability(dp="torch.tensor(q[rows, c] - p[rows, c], dtype=torch.float32).abs().numpy()"),
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
