"""Lab 3 answers the hidden tests are tried on (see answers_lab1.py for the conventions: most WRONG entries are
edits of the reference solution, a full source is kept where the mistake is a different way of writing it)."""

from answer_edits import Edit

WRONG = {
    "summarize_attributions": {
        "sums_over_tokens": (Edit("a.sum(dim=-1)", "a.sum(dim=0)"), Edit("vector_norm(a, dim=-1)", "vector_norm(a, dim=0)"),
                             Edit("a.mean(dim=-1)", "a.mean(dim=0)")),
        "normalised": Edit("    return reducers[how](attr.reshape(-1, attr.shape[-1]))",
                           "    summary = reducers[how](attr.reshape(-1, attr.shape[-1]))\n    return summary / summary.norm()"),
        "normalised_by_max": Edit('"sum": lambda a: a.sum(dim=-1),',
                                  '"sum": lambda a: a.sum(dim=-1) / a.sum(dim=-1).abs().max(),'),
        "l2_without_sqrt": Edit("torch.linalg.vector_norm(a, dim=-1)", "(a ** 2).sum(dim=-1)"),
        "abs_sum": Edit("lambda a: a.sum(dim=-1)", "lambda a: a.abs().sum(dim=-1)"),
        "mean_is_sum": Edit("a.mean(dim=-1)", "a.sum(dim=-1)"),
        "l2_is_l1": Edit("torch.linalg.vector_norm(a, dim=-1)", "a.abs().sum(dim=-1)"),
        "no_value_error": Edit('''    if how not in reducers:
        raise ValueError(f"how must be one of {sorted(reducers)}, got {how!r}")
    return reducers[how](''', '''    return reducers.get(how, reducers["sum"])('''),
        "batch_dim_not_handled": Edit("reducers[how](attr.reshape(-1, attr.shape[-1]))", "reducers[how](attr)"),
        "in_place": Edit('"l2": lambda a: torch.linalg.vector_norm(a, dim=-1),',
                         '"l2": lambda a: a.pow_(2).sum(dim=-1).sqrt(),'),
        "returns_numpy": Edit("return reducers[how](attr.reshape(-1, attr.shape[-1]))",
                              "return reducers[how](attr.reshape(-1, attr.shape[-1])).numpy()"),
    },
    "input_x_gradient": {
        "logit_not_probability": Edit("torch.softmax(logits_from_embeddings(model, x), dim=-1)[0]",
                                      "logits_from_embeddings(model, x)[0]"),
        "gradient_only": Edit("(x * grad).sum(dim=-1)", "grad.sum(dim=-1)"),
        "abs_sum": Edit("(x * grad).sum(dim=-1)", "(x * grad).abs().sum(dim=-1)"),
        "l2_norm": Edit("(x * grad).sum(dim=-1)", "(x * grad).norm(dim=-1)"),
        "target_or_predicted": Edit("if target is None:", "if not target:"),
        "softmax_over_batch": Edit("logits_from_embeddings(model, x), dim=-1)", "logits_from_embeddings(model, x), dim=0)"),
        "log_probability": Edit("torch.softmax(", "torch.log_softmax("),
        "keeps_batch_dim": Edit("(x * grad).sum(dim=-1)[0].detach()", "(x * grad).sum(dim=-1).detach()"),
        "word_embeddings_only": (Edit("embedding_layer(model)(input_ids=ids)", "model.bert.embeddings.word_embeddings(ids)"),
                                 Edit("logits_from_embeddings(model, x)", "model(inputs_embeds=x).logits")),
        "always_predicted_class": Edit("if target is None:", "if True:"),
    },
    "integrated_gradients": {
        "target_or_predicted": Edit("if target is None:", "if not target:"),
        "zero_baseline": Edit("x, x0 = block(input_ids=ids), block(input_ids=baseline)",
                              "x = block(input_ids=ids)\n        x0 = torch.zeros_like(x)"),
        "default_baseline_all_pad": Edit("        baseline[0, [0, -1]] = ids[0, [0, -1]]\n", ""),
        "ignores_baseline_ids": Edit('''    if baseline_ids is None:
        baseline = torch.full_like(ids, model.config.pad_token_id)
        baseline[0, [0, -1]] = ids[0, [0, -1]]
    else:
        baseline = torch.as_tensor(baseline_ids, device=device).reshape(1, -1)
''', '''    baseline = torch.full_like(ids, model.config.pad_token_id)
    baseline[0, [0, -1]] = ids[0, [0, -1]]
'''),
        "times_x_not_difference": Edit("((x - x0)[0] * gradient_sum", "(x[0] * gradient_sum"),
        "gradient_at_input_only": Edit("(x0 + chunk[:, None, None] * (x - x0)).requires_grad_()",
                                       "x.repeat(len(chunk), 1, 1).requires_grad_()"),
        "abs_over_hidden": Edit("* gradient_sum / n_steps).sum(dim=-1)", "* gradient_sum / n_steps).abs().sum(dim=-1)"),
        "norm_over_hidden": Edit("* gradient_sum / n_steps).sum(dim=-1)", "* gradient_sum / n_steps).norm(dim=-1)"),
        "mean_over_hidden": Edit("* gradient_sum / n_steps).sum(dim=-1)", "* gradient_sum / n_steps).mean(dim=-1)"),
        "logits_not_probabilities": (
            Edit("torch.softmax(logits_from_embeddings(model, path), dim=-1)[:, target]",
                 "logits_from_embeddings(model, path)[:, target]"),
            Edit("(endpoints[0, target] - endpoints[1, target])",
                 "(torch.log(endpoints[0, target]) - torch.log(endpoints[1, target]))")),
        "logit_attributions_probability_delta": Edit("torch.softmax(logits_from_embeddings(model, path), dim=-1)[:, target]",
                                                     "logits_from_embeddings(model, path)[:, target]"),
        "softmax_over_path": Edit("logits_from_embeddings(model, path), dim=-1)",
                                  "logits_from_embeddings(model, path), dim=0)"),
        "gradients_summed_not_averaged": Edit("* gradient_sum / n_steps)", "* gradient_sum)"),
        "ignores_n_steps": (Edit("torch.arange(n_steps, device=device, dtype=x.dtype) + 0.5) / n_steps",
                                 "torch.arange(50, device=device, dtype=x.dtype) + 0.5) / 50"),
                            Edit("gradient_sum / n_steps", "gradient_sum / 50")),
        "delta_unsigned": Edit("delta = float(attr.sum() - (endpoints[0, target] - endpoints[1, target]))",
                               "delta = float(abs(attr.sum() - (endpoints[0, target] - endpoints[1, target])))"),
        "delta_wrong_sign": Edit("delta = float(attr.sum() - (endpoints[0, target] - endpoints[1, target]))",
                                 "delta = float((endpoints[0, target] - endpoints[1, target]) - attr.sum())"),
        "delta_is_difference_only": Edit("delta = float(attr.sum() - (endpoints[0, target] - endpoints[1, target]))",
                                         "delta = float(endpoints[0, target] - endpoints[1, target])"),
        "delta_uses_default_baseline": Edit(
            "    delta = float(attr.sum() - (endpoints[0, target] - endpoints[1, target]))",
            '''    default = torch.full_like(ids, model.config.pad_token_id)
    default[0, [0, -1]] = ids[0, [0, -1]]
    with torch.no_grad():
        p_default = torch.softmax(logits_from_embeddings(model, block(input_ids=default)), dim=-1)[0, target]
    delta = float(attr.sum() - (endpoints[0, target] - p_default))'''),
        "delta_from_zero_embeddings": Edit(
            "    delta = float(attr.sum() - (endpoints[0, target] - endpoints[1, target]))",
            '''    with torch.no_grad():
        p_zero = torch.softmax(logits_from_embeddings(model, torch.zeros_like(x)), dim=-1)[0, target]
    delta = float(attr.sum() - (endpoints[0, target] - p_zero))'''),
        "path_from_zero": Edit("(x0 + chunk[:, None, None] * (x - x0))", "(chunk[:, None, None] * x)"),
        "reversed_attr_sign": Edit("((x - x0)[0] * gradient_sum", "((x0 - x)[0] * gradient_sum"),
        "word_embeddings_layer": (Edit("block = embedding_layer(model)", "words = model.bert.embeddings.word_embeddings"),
                                  Edit("block(input_ids=ids), block(input_ids=baseline)", "words(ids), words(baseline)"),
                                  Edit("logits_from_embeddings(model, torch.cat([x, x0]))",
                                       "model(inputs_embeds=torch.cat([x, x0])).logits"),
                                  Edit("logits_from_embeddings(model, path)", "model(inputs_embeds=path).logits")),
        "returns_hidden_dims": Edit("attr = ((x - x0)[0] * gradient_sum / n_steps).sum(dim=-1)",
                                    "attr = (x - x0)[0] * gradient_sum / n_steps"),
        # n points with both ends, equal weights 1/n: no standard rule (agrees with captum at 300 steps)
        "linspace_equal_weights": Edit("(torch.arange(n_steps, device=device, dtype=x.dtype) + 0.5) / n_steps",
                                       "torch.linspace(0, 1, n_steps, device=device, dtype=x.dtype)"),
        "trapezoid_ends_not_halved": (Edit("(torch.arange(n_steps, device=device, dtype=x.dtype) + 0.5) / n_steps",
                                           "torch.linspace(0, 1, n_steps, device=device, dtype=x.dtype)"),
                                      Edit("gradient_sum / n_steps", "gradient_sum / (n_steps - 1)")),
    },
    "word_feature_mask": {
        # one group per distinct word, not per position: a different numbering, not a slip in the reference's
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
        # group 0 for every special token, words from 1: a different numbering, not a slip in the reference's
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
        "pieces_are_groups": Edit(
            'continues_word = token.startswith("##") and i > 0 and tokens[i - 1] not in SPECIAL_TOKENS',
            "continues_word = False"),
        "starts_at_one": Edit("groups, group = [], -1", "groups, group = [], 0"),
        "flat_shape": Edit("torch.tensor([groups],", "torch.tensor(groups,"),
        "float_dtype": Edit("dtype=torch.long", "dtype=torch.float32"),
        "list_not_tensor": Edit("return torch.tensor([groups], dtype=torch.long)", "return [groups]"),
        # '#' taken for a piece, by the plain rule (no exception after a special token): a hashtag after [CLS] joins it
        "single_hash_check": Edit('token.startswith("##") and i > 0 and tokens[i - 1] not in SPECIAL_TOKENS',
                                  'token.startswith("#")'),
        "pads_share_a_group": Edit(
            "tokens[i - 1] not in SPECIAL_TOKENS",
            'tokens[i - 1] not in SPECIAL_TOKENS or (token == "[PAD]" and i > 0 and tokens[i - 1] == "[PAD]")'),
    },
    "group_subwords": {
        "averages_pieces": (Edit("words, word_scores = [], []", "words, word_scores, counts = [], [], []"),
                            Edit("word_scores[-1] += float(score)\n", "word_scores[-1] += float(score)\n            counts[-1] += 1\n"),
                            Edit("word_scores.append(float(score))\n", "word_scores.append(float(score))\n            counts.append(1)\n"),
                            Edit("return words, word_scores", "return words, [s / c for s, c in zip(word_scores, counts)]")),
        "first_piece_only": Edit("word_scores[-1] += float(score)", "word_scores[-1] += 0.0"),
        "keeps_specials": Edit('''        if token in ("[CLS]", "[SEP]", "[PAD]"):
            after_special = True
            continue
''', ""),
        "keeps_hash_marks": Edit("words[-1] += token[2:]", "words[-1] += token"),
        "space_between_pieces": Edit("words[-1] += token[2:]", 'words[-1] += " " + token[2:]'),
        "max_of_pieces": Edit("word_scores[-1] += float(score)", "word_scores[-1] = max(word_scores[-1], float(score))"),
        "drops_pieces": Edit('if token in ("[CLS]", "[SEP]", "[PAD]"):',
                             'if token in ("[CLS]", "[SEP]", "[PAD]") or token.startswith("##"):'),
        "merges_repeated_words": Edit("    return words, word_scores", '''    merged = {}
    for word, score in zip(words, word_scores):
        merged[word] = merged.get(word, 0.0) + score
    return list(merged), list(merged.values())'''),
        "only_cls_and_sep_dropped": Edit('("[CLS]", "[SEP]", "[PAD]")', '("[CLS]", "[SEP]")'),
        "tensor_scores": Edit("return words, word_scores", "return words, torch.tensor(word_scores)"),
        "single_hash_check": Edit('token.startswith("##")', 'token.startswith("#")'),
        # right on lists: the elements of a tensor are 0-d tensors, and `+=` on one writes into the caller's tensor
        "zero_d_tensors": (Edit("word_scores.append(float(score))", "word_scores.append(score)"),
                           Edit("word_scores[-1] += float(score)", "word_scores[-1] = word_scores[-1] + score")),
        "in_place_on_tensor": (Edit("word_scores.append(float(score))", "word_scores.append(score)"),
                               Edit("word_scores[-1] += float(score)", "word_scores[-1] += score"),
                               Edit("return words, word_scores", "return words, [float(s) for s in word_scores]")),
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
        # the reference on the right Riemann sum instead of the midpoint rule
        "right_riemann_batched": Edit("(torch.arange(n_steps, device=device, dtype=x.dtype) + 0.5) / n_steps",
                                      "(torch.arange(n_steps, device=device, dtype=x.dtype) + 1) / n_steps"),
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
        "simpson_three_eighths_at_4": '''
def integrated_gradients(model, input_ids, target=None, baseline_ids=None, n_steps=50):
    ids = torch.as_tensor(input_ids).reshape(1, -1)
    if baseline_ids is not None:
        base = torch.as_tensor(baseline_ids).reshape(1, -1)
    else:
        base = torch.full_like(ids, model.config.pad_token_id)
        base[0, [0, -1]] = ids[0, [0, -1]]
    block = embedding_layer(model)
    with torch.no_grad():
        x, x0 = block(input_ids=ids), block(input_ids=base)
        ends = torch.softmax(logits_from_embeddings(model, torch.cat([x, x0])), dim=-1)
    if target is None:
        target = int(ends[0].argmax())
    n = n_steps
    alphas = (torch.arange(n, dtype=x.dtype) + 0.5) / n
    path = x0 + (torch.linspace(0, 1, n) if n == 4 else alphas)[:, None, None] * (x - x0)
    path.requires_grad_()
    p = torch.softmax(logits_from_embeddings(model, path), dim=-1)[:, target]
    (g,) = torch.autograd.grad(p.sum(), path)
    if n == 4:  # Simpson's 3/8 rule: weights 1, 3, 3, 1 over 8 on 0, 1/3, 2/3, 1
        attr = ((x - x0)[0] * ((torch.tensor([1., 3., 3., 1.]) / 8)[:, None, None] * g).sum(0)).sum(-1)
    else:
        attr = ((x - x0)[0] * g.mean(0)).sum(-1)
    delta = attr.sum() - (ends[0, target] - ends[1, target])
    return attr.detach(), float(delta)
''',
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
