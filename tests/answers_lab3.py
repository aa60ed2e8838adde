"""Lab 3 answers the hidden tests are tried on (see answers_lab1.py for the conventions)."""

# ---------------------------------------------------------------- summarize_attributions
_SUMMARIZE = '''
def summarize_attributions(attr, how="sum"):
    a = attr.reshape(-1, attr.shape[-1])
    if how == "sum":
        return {sum_}
    if how == "l2":
        return {l2}
    if how == "mean":
        return {mean}
    raise ValueError(how)
'''


def _summarize(sum_="a.sum(-1)", l2="a.norm(dim=-1)", mean="a.mean(-1)"):
    return _SUMMARIZE.format(sum_=sum_, l2=l2, mean=mean)


# ---------------------------------------------------------------- input_x_gradient
_IXG = '''
def input_x_gradient(model, input_ids, target=None):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    x = embedding_layer(model)(input_ids=ids).detach().requires_grad_()
    out = {output}
    if {no_target}:
        target = int(out.argmax())
    (grad,) = torch.autograd.grad(out[target], x)
    return {result}
'''


def _ixg(output="torch.softmax(logits_from_embeddings(model, x), dim=-1)[0]", no_target="target is None",
         result="(x * grad).sum(-1)[0].detach()"):
    return _IXG.format(output=output, no_target=no_target, result=result)


# ---------------------------------------------------------------- integrated_gradients
_IG = '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if {use_given_baseline}:
        base = torch.as_tensor(baseline_ids).reshape(1, -1)
    else:
        base = torch.full_like(ids, model.config.pad_token_id)
        {keep_specials}
    block = embedding_layer(model)
    with torch.no_grad():
        x, x0 = block(input_ids=ids), {x0}
        ends = torch.softmax(logits_from_embeddings(model, torch.cat([x, x0])), dim=-1)
    if {no_target}:
        target = int(ends[0].argmax())
    n = {steps}
    alphas = (torch.arange(n, dtype=x.dtype) + 0.5) / n
    path = {path}
    path.requires_grad_()
    p = {F}[:, target]
    (g,) = torch.autograd.grad(p.sum(), path)
    attr = {attr}
    delta = {delta}
    return attr.detach(), float(delta)
'''


def _ig(use_given_baseline="baseline_ids is not None", keep_specials="base[0, [0, -1]] = ids[0, [0, -1]]",
        x0="block(input_ids=base)", no_target="target is None", steps="n_steps",
        path="x0 + alphas[:, None, None] * (x - x0)",
        F="torch.softmax(logits_from_embeddings(model, path), dim=-1)",
        attr="((x - x0)[0] * g.mean(0)).sum(-1)",
        delta="attr.sum() - (ends[0, target] - ends[1, target])"):
    return _IG.format(use_given_baseline=use_given_baseline, keep_specials=keep_specials, x0=x0,
                      no_target=no_target, steps=steps, path=path, F=F, attr=attr, delta=delta)


# ---------------------------------------------------------------- word_feature_mask, group_subwords
_MASK = '''
def word_feature_mask(tokens):
    groups, g = [], {start}
    for i, t in enumerate(tokens):
        if {new_group}:
            g += 1
        groups.append(g)
    return {result}
'''


def _mask(start="-1", new_group='not t.startswith("##")', result="torch.tensor([groups], dtype=torch.long)"):
    return _MASK.format(start=start, new_group=new_group, result=result)


_GROUP = '''
def group_subwords(tokens, scores):
    words, values, counts = [], [], []
    for t, s in zip(tokens, scores):
        if {skip}:
            continue
        if t.startswith("##") and words:
            words[-1] += {piece}
            values[-1] {combine}
            counts[-1] += 1
        else:
            words.append(t); values.append(float(s)); counts.append(1)
    return words, {result}
'''


def _group(skip='t in ("[CLS]", "[SEP]", "[PAD]")', piece="t[2:]", combine="+= float(s)", result="values"):
    return _GROUP.format(skip=skip, piece=piece, combine=combine, result=result)


WRONG = {
    "summarize_attributions": {
        "sums_over_tokens": _summarize(sum_="a.sum(0)", l2="a.norm(dim=0)", mean="a.mean(0)"),
        "normalised": _summarize(sum_="a.sum(-1) / a.sum(-1).norm()", l2="a.norm(dim=-1) / a.norm(dim=-1).norm()",
                                 mean="a.mean(-1) / a.mean(-1).norm()"),
        "normalised_by_max": _summarize(sum_="a.sum(-1) / a.sum(-1).abs().max()"),
        "l2_without_sqrt": _summarize(l2="(a ** 2).sum(-1)"),
        "abs_sum": _summarize(sum_="a.abs().sum(-1)"),
        "mean_is_sum": _summarize(mean="a.sum(-1)"),
        "l2_is_l1": _summarize(l2="a.abs().sum(-1)"),
        "no_value_error": '''
def summarize_attributions(attr, how="sum"):
    a = attr.reshape(-1, attr.shape[-1])
    if how == "l2":
        return a.norm(dim=-1)
    if how == "mean":
        return a.mean(-1)
    return a.sum(-1)
''',
        "batch_dim_not_handled": '''
def summarize_attributions(attr, how="sum"):
    if how == "sum":
        return attr.sum(dim=1)
    if how == "l2":
        return attr.norm(dim=1)
    if how == "mean":
        return attr.mean(dim=1)
    raise ValueError(how)
''',
        "in_place": '''
def summarize_attributions(attr, how="sum"):
    if how not in ("sum", "l2", "mean"):
        raise ValueError(how)
    a = attr.reshape(-1, attr.shape[-1])
    if how == "l2":
        return a.pow_(2).sum(-1).sqrt()
    return a.sum(-1) if how == "sum" else a.mean(-1)
''',
        "returns_numpy": _summarize(sum_="a.sum(-1).numpy()", l2="a.norm(dim=-1).numpy()", mean="a.mean(-1).numpy()"),
    },
    "input_x_gradient": {
        "logit_not_probability": _ixg(output="logits_from_embeddings(model, x)[0]"),
        "gradient_only": _ixg(result="grad.sum(-1)[0].detach()"),
        "abs_sum": _ixg(result="(x * grad).abs().sum(-1)[0].detach()"),
        "l2_norm": _ixg(result="(x * grad).norm(dim=-1)[0].detach()"),
        "target_or_predicted": _ixg(no_target="not target"),
        "softmax_over_batch": _ixg(output="torch.softmax(logits_from_embeddings(model, x), dim=0)[0]"),
        "log_probability": _ixg(output="torch.log_softmax(logits_from_embeddings(model, x), dim=-1)[0]"),
        "keeps_batch_dim": _ixg(result="(x * grad).sum(-1).detach()"),
        "word_embeddings_only": '''
def input_x_gradient(model, input_ids, target=None):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    e = model.bert.embeddings.word_embeddings(ids).detach().requires_grad_()
    probs = torch.softmax(model(inputs_embeds=e).logits, dim=-1)[0]
    if target is None:
        target = int(probs.argmax())
    (grad,) = torch.autograd.grad(probs[target], e)
    return (e * grad).sum(-1)[0].detach()
''',
        "always_predicted_class": _ixg(no_target="True"),
    },
    "integrated_gradients": {
        "target_or_predicted": _ig(no_target="not target"),
        "zero_baseline": _ig(x0="torch.zeros_like(block(input_ids=ids))"),
        "default_baseline_all_pad": _ig(keep_specials="pass"),
        "ignores_baseline_ids": _ig(use_given_baseline="False"),
        "times_x_not_difference": _ig(attr="(x[0] * g.mean(0)).sum(-1)"),
        "gradient_at_input_only": _ig(path="x.repeat(n, 1, 1)"),
        "abs_over_hidden": _ig(attr="((x - x0)[0] * g.mean(0)).abs().sum(-1)"),
        "norm_over_hidden": _ig(attr="((x - x0)[0] * g.mean(0)).norm(dim=-1)"),
        "mean_over_hidden": _ig(attr="((x - x0)[0] * g.mean(0)).mean(-1)"),
        "logits_not_probabilities": _ig(F="logits_from_embeddings(model, path)",
                                        delta="attr.sum() - (torch.log(ends[0, target]) - torch.log(ends[1, target]))"),
        "logit_attributions_probability_delta": _ig(F="logits_from_embeddings(model, path)"),
        "softmax_over_path": _ig(F="torch.softmax(logits_from_embeddings(model, path), dim=0)"),
        "gradients_summed_not_averaged": _ig(attr="((x - x0)[0] * g.sum(0)).sum(-1)"),
        "ignores_n_steps": _ig(steps="50"),
        "delta_unsigned": _ig(delta="abs(attr.sum() - (ends[0, target] - ends[1, target]))"),
        "delta_wrong_sign": _ig(delta="(ends[0, target] - ends[1, target]) - attr.sum()"),
        "delta_is_difference_only": _ig(delta="ends[0, target] - ends[1, target]"),
        "delta_uses_default_baseline": _ig(delta="attr.sum() - (ends[0, target] - torch.softmax(logits_from_embeddings("
                                                 "model, block(input_ids=torch.cat([ids[:, :1], torch.full_like(ids[:, 1:-1], "
                                                 "model.config.pad_token_id), ids[:, -1:]], dim=1))), dim=-1)[0, target])"),
        "delta_from_zero_embeddings": _ig(delta="attr.sum() - (ends[0, target] - torch.softmax("
                                                "logits_from_embeddings(model, torch.zeros_like(x)), dim=-1)[0, target])"),
        "path_from_zero": _ig(path="alphas[:, None, None] * x"),
        "reversed_attr_sign": _ig(attr="((x0 - x)[0] * g.mean(0)).sum(-1)"),
        "word_embeddings_layer": '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if baseline_ids is None:
        base = torch.full_like(ids, model.config.pad_token_id); base[0, [0, -1]] = ids[0, [0, -1]]
    else:
        base = torch.as_tensor(baseline_ids).reshape(1, -1)
    words = model.bert.embeddings.word_embeddings
    with torch.no_grad():
        e, e0 = words(ids), words(base)
        ends = torch.softmax(model(inputs_embeds=torch.cat([e, e0])).logits, dim=-1)
    if target is None:
        target = int(ends[0].argmax())
    alphas = (torch.arange(n_steps, dtype=e.dtype) + 0.5) / n_steps
    path = (e0 + alphas[:, None, None] * (e - e0)).requires_grad_()
    p = torch.softmax(model(inputs_embeds=path).logits, dim=-1)[:, target]
    (g,) = torch.autograd.grad(p.sum(), path)
    attr = ((e - e0)[0] * g.mean(0)).sum(-1)
    return attr.detach(), float(attr.sum() - (ends[0, target] - ends[1, target]))
''',
        "returns_hidden_dims": _ig(attr="((x - x0)[0] * g.mean(0))"),
        # n points with both ends, equal weights 1/n: no standard rule (agrees with captum at 300 steps)
        "linspace_equal_weights": _ig(path="x0 + torch.linspace(0, 1, n)[:, None, None] * (x - x0)"),
        "trapezoid_ends_not_halved": _ig(path="x0 + torch.linspace(0, 1, n)[:, None, None] * (x - x0)",
                                         attr="((x - x0)[0] * g.sum(0) / (n - 1)).sum(-1)"),
    },
    "word_feature_mask": {
        "distinct_words": '''
def word_feature_mask(tokens):
    ids, groups, word = {}, [], None
    words = []
    for t in tokens:
        if t.startswith("##") and words:
            words[-1].append(t)
        else:
            words.append([t])
    for w in words:
        key = "".join(w)
        ids.setdefault(key, len(ids))
        groups += [ids[key]] * len(w)
    return torch.tensor([groups], dtype=torch.long)
''',
        "specials_share_a_group": '''
def word_feature_mask(tokens):
    groups, g = [], 0  # group 0: all special tokens
    for i, t in enumerate(tokens):
        if t in ("[CLS]", "[SEP]", "[PAD]"):
            groups.append(0)
            continue
        if not t.startswith("##"):
            g += 1
        groups.append(g)
    return torch.tensor([groups], dtype=torch.long)
''',
        "pieces_are_groups": _mask(new_group="True"),
        "starts_at_one": _mask(start="0"),
        "flat_shape": _mask(result="torch.tensor(groups, dtype=torch.long)"),
        "float_dtype": _mask(result="torch.tensor([groups], dtype=torch.float32)"),
        "list_not_tensor": _mask(result="[groups]"),
        "single_hash_check": _mask(new_group='not t.startswith("#")'),
        "pads_share_a_group": '''
def word_feature_mask(tokens):
    groups, g = [], -1
    for i, t in enumerate(tokens):
        if t == "[PAD]" and i > 0 and tokens[i - 1] == "[PAD]":
            groups.append(g); continue
        if not t.startswith("##"):
            g += 1
        groups.append(g)
    return torch.tensor([groups], dtype=torch.long)
''',
    },
    "group_subwords": {
        "averages_pieces": _group(result="[v / c for v, c in zip(values, counts)]"),
        "first_piece_only": _group(combine="+= 0.0"),
        "keeps_specials": _group(skip="False"),
        "keeps_hash_marks": _group(piece="t"),
        "space_between_pieces": _group(piece='" " + t[2:]'),
        "max_of_pieces": _group(combine="= max(values[-1], float(s))"),
        "drops_pieces": '''
def group_subwords(tokens, scores):
    pairs = [(t, float(s)) for t, s in zip(tokens, scores)
             if t not in ("[CLS]", "[SEP]", "[PAD]") and not t.startswith("##")]
    return [t for t, _ in pairs], [s for _, s in pairs]
''',
        "merges_repeated_words": '''
def group_subwords(tokens, scores):
    words, values = [], []
    for t, s in zip(tokens, scores):
        if t in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if t.startswith("##") and words:
            words[-1] += t[2:]; values[-1] += float(s)
        else:
            words.append(t); values.append(float(s))
    merged = {}
    for w, v in zip(words, values):
        merged[w] = merged.get(w, 0.0) + v
    return list(merged), list(merged.values())
''',
        "only_cls_and_sep_dropped": _group(skip='t in ("[CLS]", "[SEP]")'),
        "tensor_scores": _group(result="torch.tensor(values)"),
        "single_hash_check": _group(skip='t in ("[CLS]", "[SEP]", "[PAD]")').replace('t.startswith("##")', 't.startswith("#")'),
        # right on lists: the elements of a tensor are 0-d tensors, and `+=` on one writes into the caller's tensor
        "zero_d_tensors": _group().replace("values.append(float(s))", "values.append(s)").replace(
            "values[-1] += float(s)", "values[-1] = values[-1] + s"),
        "in_place_on_tensor": _group(result="[float(v) for v in values]").replace(
            "values.append(float(s))", "values.append(s)").replace("values[-1] += float(s)", "values[-1] += s"),
    },
}

ALTERNATIVES = {
    "summarize_attributions": {
        "match_and_torch_norm": '''
def summarize_attributions(attr, how="sum"):
    a = attr.squeeze(0) if attr.dim() == 3 else attr
    match how:
        case "sum":
            return torch.sum(a, dim=1)
        case "l2":
            return torch.norm(a, p=2, dim=1)
        case "mean":
            return torch.mean(a, dim=1)
    raise ValueError(f"unknown summary {how}")
''',
        "einsum_and_sqrt": '''
def summarize_attributions(attr, how="sum"):
    if how not in {"sum", "l2", "mean"}:
        raise ValueError("how must be sum, l2 or mean")
    a = attr[0] if attr.ndim == 3 else attr
    if how == "l2":
        return torch.einsum("td,td->t", a, a).sqrt()
    total = a.sum(axis=-1)
    return total / a.shape[-1] if how == "mean" else total
''',
        "double_precision": '''
def summarize_attributions(attr, how="sum"):
    a = attr.detach().double().reshape(-1, attr.shape[-1])
    ops = {"sum": lambda: a.sum(1), "l2": lambda: (a ** 2).sum(1) ** 0.5, "mean": lambda: a.sum(1) / a.shape[1]}
    try:
        return ops[how]().float()
    except KeyError:
        raise ValueError(how) from None
''',
    },
    "input_x_gradient": {
        "backward_and_grad": '''
def input_x_gradient(model, input_ids, target=None):
    model.eval()
    ids = input_ids.unsqueeze(0) if input_ids.dim() == 1 else input_ids
    emb = model.bert.embeddings(input_ids=ids).detach()
    emb.requires_grad = True
    probs = logits_from_embeddings(model, emb).softmax(-1)
    cls = probs.argmax(-1).item() if target is None else target
    model.zero_grad()
    probs[0, cls].backward()
    return (emb.grad * emb).sum(dim=2).squeeze(0).detach()
''',
        "own_forward_hook": '''
def input_x_gradient(model, input_ids, target=None):
    ids = torch.as_tensor(input_ids).view(1, -1)
    saved = {}
    def keep(module, inputs, output):
        output.retain_grad()
        saved["x"] = output
    handle = model.bert.embeddings.register_forward_hook(keep)
    try:
        probs = torch.nn.functional.softmax(model(input_ids=ids).logits, dim=1)
    finally:
        handle.remove()
    k = target if target is not None else probs[0].argmax().item()
    probs[0, k].backward()
    x = saved["x"]
    return (x * x.grad).sum(-1).squeeze(0).detach()
''',
        "captum_layer_gradient_x_activation": '''
from captum.attr import LayerGradientXActivation

def input_x_gradient(model, input_ids, target=None):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    f = lambda i: torch.softmax(model(input_ids=i).logits, dim=-1)
    if target is None:
        with torch.no_grad():
            target = int(f(ids).argmax())
    return LayerGradientXActivation(f, model.bert.embeddings).attribute(ids, target=target).sum(-1)[0].detach()
''',
    },
    "integrated_gradients": {
        "left_riemann_loop": '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = input_ids.view(1, -1)
    if baseline_ids is None:
        baseline_ids = torch.tensor([[ids[0, 0].item()] + [model.config.pad_token_id] * (ids.shape[1] - 2) + [ids[0, -1].item()]])
    base = torch.as_tensor(baseline_ids).view(1, -1)
    emb = model.bert.embeddings
    x = emb(input_ids=ids).detach(); x0 = emb(input_ids=base).detach()
    F = lambda e: torch.softmax(logits_from_embeddings(model, e), dim=-1)[0]
    with torch.no_grad():
        fx, fx0 = F(x), F(x0)
    if target is None:
        target = fx.argmax().item()
    total = torch.zeros_like(x)
    for k in range(n_steps):
        point = (x0 + (k / n_steps) * (x - x0)).requires_grad_(True)
        F(point)[target].backward()
        total += point.grad
    attr = ((x - x0) * total / n_steps).sum(-1)[0]
    return attr, (attr.sum() - (fx[target] - fx0[target])).item()
''',
        "right_riemann_batched": _ig(path="x0 + ((torch.arange(n, dtype=x.dtype) + 1) / n)[:, None, None] * (x - x0)"),
        "trapezoid": '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if baseline_ids is None:
        base = ids.clone(); base[0, 1:-1] = model.config.pad_token_id
    else:
        base = torch.as_tensor(baseline_ids).reshape(1, -1)
    x = embedding_layer(model)(input_ids=ids).detach()
    x0 = embedding_layer(model)(input_ids=base).detach()
    alphas = torch.linspace(0, 1, n_steps)
    w = torch.full((n_steps,), 1.0 / (n_steps - 1)); w[0] /= 2; w[-1] /= 2
    path = (x0 + alphas.view(-1, 1, 1) * (x - x0)).requires_grad_()
    probs = torch.softmax(logits_from_embeddings(model, path), dim=-1)
    if target is None:
        target = int(probs[-1].argmax())
    g, = torch.autograd.grad(probs[:, target].sum(), path)
    attr = ((x - x0) * (w.view(-1, 1, 1) * g).sum(0, keepdim=True)).sum(-1).squeeze(0)
    delta = attr.sum() - (probs[-1, target] - probs[0, target])
    return attr.detach(), float(delta)
''',
        "gauss_legendre_numpy": '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if baseline_ids is None:
        base = torch.where((torch.arange(ids.shape[1]) == 0) | (torch.arange(ids.shape[1]) == ids.shape[1] - 1),
                           ids, torch.full_like(ids, model.config.pad_token_id))
    else:
        base = torch.as_tensor(baseline_ids).reshape(1, -1)
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)
    weights = torch.tensor(weights / 2, dtype=torch.float32)
    x = embedding_layer(model)(input_ids=ids).detach()
    x0 = embedding_layer(model)(input_ids=base).detach()
    def prob(e):
        return torch.softmax(logits_from_embeddings(model, e), dim=-1)
    with torch.no_grad():
        px, px0 = prob(x)[0], prob(x0)[0]
    c = int(px.argmax()) if target is None else int(target)
    path = x0 + alphas[:, None, None] * (x - x0)
    path.requires_grad_(True)
    grads = torch.autograd.grad(prob(path)[:, c].sum(), path)[0]
    avg = (weights[:, None, None] * grads).sum(0)
    attr = (avg * (x - x0)[0]).sum(-1)
    return attr.detach(), float(attr.sum() - (px[c] - px0[c]))
''',
        "captum_itself": '''
from captum.attr import LayerIntegratedGradients

def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if baseline_ids is None:
        baseline_ids = torch.full_like(ids, model.config.pad_token_id)
        baseline_ids[0, 0], baseline_ids[0, -1] = ids[0, 0], ids[0, -1]
    base = torch.as_tensor(baseline_ids).reshape(1, -1)
    f = lambda i: torch.softmax(model(input_ids=i).logits, dim=-1)
    if target is None:
        with torch.no_grad():
            target = int(f(ids).argmax())
    attr, delta = LayerIntegratedGradients(f, model.bert.embeddings).attribute(
        ids, baselines=base, target=target, n_steps=n_steps, return_convergence_delta=True)
    return attr.sum(-1)[0].detach(), float(delta)
''',
        "captum_riemann_trapezoid": '''
from captum.attr import LayerIntegratedGradients

def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if baseline_ids is None:
        baseline_ids = ids.clone()
        baseline_ids[0, 1:-1] = model.config.pad_token_id
    f = lambda i: torch.softmax(model(input_ids=i).logits, dim=-1)
    if target is None:
        with torch.no_grad():
            target = int(f(ids).argmax())
    attr, delta = LayerIntegratedGradients(f, model.bert.embeddings).attribute(
        ids, baselines=torch.as_tensor(baseline_ids).reshape(1, -1), target=target, n_steps=n_steps,
        method="riemann_trapezoid", return_convergence_delta=True)
    return attr.sum(-1)[0].detach(), float(delta)
''',
        "simpson_three_eighths_at_4": _ig(
            path="x0 + (torch.linspace(0, 1, n) if n == 4 else alphas)[:, None, None] * (x - x0)",
            attr="((x - x0)[0] * ((torch.tensor([1., 3., 3., 1.]) / 8)[:, None, None] * g).sum(0)).sum(-1) if n == 4 "
                 "else ((x - x0)[0] * g.mean(0)).sum(-1)"),
        "target_as_tensor_index_and_chunks": '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    base = ids.clone()
    base[:, 1:-1] = model.config.pad_token_id
    if baseline_ids is not None:
        base = torch.as_tensor(baseline_ids).reshape(1, -1)
    layer = embedding_layer(model)
    x = layer(input_ids=ids).detach()
    x0 = layer(input_ids=base).detach()
    with torch.no_grad():
        p_x = logits_from_embeddings(model, x).softmax(-1)[0]
        p_x0 = logits_from_embeddings(model, x0).softmax(-1)[0]
    t = p_x.argmax() if target is None else torch.tensor(target)
    grad_total = torch.zeros_like(x)
    for chunk in torch.linspace(0.5 / n_steps, 1 - 0.5 / n_steps, n_steps).chunk(7):
        pts = (x0 + chunk.view(-1, 1, 1) * (x - x0)).requires_grad_()
        out = logits_from_embeddings(model, pts).softmax(-1)[:, t].sum()
        grad_total += torch.autograd.grad(out, pts)[0].sum(0, keepdim=True)
    attr = ((x - x0) * grad_total / n_steps).sum(-1).squeeze(0)
    return attr.detach(), (attr.sum() - (p_x[t] - p_x0[t])).item()
''',
    },
    "word_feature_mask": {
        "cumsum": '''
def word_feature_mask(tokens):
    starts = torch.tensor([0 if t.startswith("##") else 1 for t in tokens])
    return (torch.cumsum(starts, dim=0) - 1).unsqueeze(0).long()
''',
        "itertools_accumulate": '''
import itertools

def word_feature_mask(tokens):
    flags = [int(not tok.startswith("##")) for tok in tokens]
    return torch.LongTensor([[n - 1 for n in itertools.accumulate(flags)]])
''',
        "numpy_with_specials_branch": '''
def word_feature_mask(tokens):
    out = np.zeros(len(tokens), dtype=np.int64)
    current = -1
    for i, tok in enumerate(tokens):
        if tok in ("[CLS]", "[SEP]", "[PAD]") or not tok.startswith("##") or i == 0:
            current += 1
        out[i] = current
    return torch.from_numpy(out)[None, :]
''',
        "look_ahead": '''
def word_feature_mask(tokens):
    groups, g = [], 0  # the next token decides
    for i, t in enumerate(tokens):
        groups.append(g)
        if i + 1 < len(tokens) and not tokens[i + 1].startswith("##"):
            g += 1
    return torch.tensor([groups], dtype=torch.long)
''',
    },
    "group_subwords": {
        "index_while_loop": '''
def group_subwords(tokens, scores):
    values = [float(v) for v in torch.as_tensor(scores).reshape(-1)]
    words, word_scores, i = [], [], 0
    while i < len(tokens):
        if tokens[i] in ("[CLS]", "[SEP]", "[PAD]"):
            i += 1
            continue
        word, total, i = tokens[i], values[i], i + 1
        while i < len(tokens) and tokens[i].startswith("##"):
            word, total, i = word + tokens[i][2:], total + values[i], i + 1
        words.append(word)
        word_scores.append(total)
    return words, word_scores
''',
        "regex_on_joined_text": '''
def group_subwords(tokens, scores):
    scores = [float(s) for s in scores]
    words, sums = [], []
    for tok, s in zip(tokens, scores):
        if tok in {"[CLS]", "[SEP]", "[PAD]"}:
            continue
        if tok.startswith("##"):
            words[-1] = words[-1] + tok.removeprefix("##")
            sums[-1] = sums[-1] + s
            continue
        words.append(tok)
        sums.append(s)
    return words, sums
''',
        "numpy_indices": '''
def group_subwords(tokens, scores):
    values = np.asarray(torch.as_tensor(scores, dtype=torch.float64))
    keep = [i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]", "[PAD]")]
    starts = [i for i in keep if not tokens[i].startswith("##")]
    words, word_scores = [], []
    for n, s in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(tokens)
        members = [i for i in keep if s <= i < end]
        words.append("".join(tokens[i].replace("##", "", 1) for i in members))
        word_scores.append(float(values[members].sum()))
    return words, word_scores
''',
        "tuples": '''
def group_subwords(tokens, scores):
    merged = []
    for t, s in zip(tokens, list(scores)):
        if t in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if t[:2] == "##" and merged:
            w, v = merged.pop()
            merged.append((w + t[2:], v + float(s)))
        else:
            merged.append((t, float(s)))
    return tuple(w for w, _ in merged), np.array([v for _, v in merged])
''',
    },
}

# One mistake, the tests that fail for it (visible tests included): every other test passes.
ISOLATED = {
    "integrated_gradients": {
        "times_x_not_difference": {"test_integrated_gradients_visible", "test_integrated_gradients_values"},
        "delta_wrong_sign": {"test_integrated_gradients_visible", "test_integrated_gradients_delta"},
        "ignores_baseline_ids": {"test_integrated_gradients_visible", "test_integrated_gradients_baseline"},
        "zero_baseline": {"test_integrated_gradients_visible", "test_integrated_gradients_values",
                          "test_integrated_gradients_baseline"},
        "delta_uses_default_baseline": {"test_integrated_gradients_visible", "test_integrated_gradients_baseline"},
        "delta_from_zero_embeddings": {"test_integrated_gradients_visible", "test_integrated_gradients_delta"},
        "linspace_equal_weights": {"test_integrated_gradients_visible", "test_integrated_gradients_values"},
        "trapezoid_ends_not_halved": {"test_integrated_gradients_visible", "test_integrated_gradients_values"},
    },
    "summarize_attributions": {
        "sums_over_tokens": {"test_summarize_attributions_visible", "test_summarize_attributions_values"},
    },
    "input_x_gradient": {
        "logit_not_probability": {"test_input_x_gradient_visible", "test_input_x_gradient_values"},
    },
}

# The commonest slips, caught by the visible test under the exercise with a message naming the cause
# (see answers_lab1.py): wrong-answer label -> a regex the visible test's message must match.
VISIBLE = {
    "summarize_attributions": {
        "sums_over_tokens": r"reduces over the tokens \(dim 0\).*dim=-1",
        "normalised": r"do not divide by the norm",
        "normalised_by_max": r"no normalisation",
        "no_value_error": r"should raise ValueError",
        "in_place": r"changed attr in place",
    },
    "input_x_gradient": {
        "target_or_predicted": r"`target or predicted` treats class 0 as missing",
        "always_predicted_class": r"`target or predicted` treats class 0 as missing",
        "logit_not_probability": r"logit's Input x Gradient",
    },
    "integrated_gradients": {
        "target_or_predicted": r"`target or predicted` treats class 0 as missing",
        "ignores_baseline_ids": r"use baseline_ids when it is given",
        "ignores_n_steps": r"use the n_steps argument",
        "delta_unsigned": r"keep its sign",
        "delta_uses_default_baseline": r"same baseline for delta",
        "zero_baseline": r"zero baseline",
        "linspace_equal_weights": r"quadrature is biased: the n_steps points include both ends",
        "trapezoid_ends_not_halved": r"quadrature is biased: a trapezoid rule without halving the two end weights",
        "word_embeddings_layer": r"IG on the word embeddings .*whole embedding block",
    },
    "word_feature_mask": {
        "single_hash_check": r"'#' \(a hashtag\) is a word",
        "pads_share_a_group": r"each \[PAD\] too",
        "starts_at_one": r"number the groups from 0",
    },
    "group_subwords": {
        "only_cls_and_sep_dropped": r"drop \[PAD\] too",
        "merges_repeated_words": r"stays twice",
        "tensor_scores": r"plain floats",
        "single_hash_check": r"'#' is a word",
        "zero_d_tensors": r"0-d tensors or arrays, not plain floats",
        "in_place_on_tensor": r"changed the caller's tensor of scores in place",
    },
}
