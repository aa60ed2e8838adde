"""Lab 5 answers the hidden tests are tried on (see answers_lab1.py for the conventions: most WRONG entries are
edits of the reference solution, a full source is kept where the mistake is a different way of writing it).

Every exercise scores a target's log-probability under teacher forcing, so several slips recur across them:
the logits read one position off, softmax or raw logits for log-softmax, the mean over the target tokens, only
its first token, a model left in training mode (the hidden tests hand over a model with dropout on)."""

from answer_edits import Edit

# continuation_logprob's scoring line, which the slips below rewrite
_SCORED = "return float(log_probs[torch.arange(len(target), device=device), target].sum())"

WRONG = {
    "continuation_logprob": {
        "off_by_one_own_position": Edit("logits[len(prompt) - 1:-1]", "logits[len(prompt):]"),
        "off_by_one_two_back": Edit("logits[len(prompt) - 1:-1]", "logits[len(prompt) - 2:-2]"),
        "softmax_not_log_softmax": Edit("torch.log_softmax(logits", "torch.softmax(logits"),
        "log_of_summed_probabilities": (Edit("torch.log_softmax(logits", "torch.softmax(logits"),
                                        Edit(_SCORED, "return float(torch.log(log_probs[torch.arange(len(target), "
                                                      "device=device), target].sum()))")),
        "raw_logits": Edit("torch.log_softmax(logits[len(prompt) - 1:-1], dim=-1)", "logits[len(prompt) - 1:-1]"),
        "log_softmax_over_positions": Edit("logits[len(prompt) - 1:-1], dim=-1)", "logits[len(prompt) - 1:-1], dim=0)"),
        "mean_not_sum": Edit(_SCORED, _SCORED.replace(".sum())", ".mean())")),
        "first_target_token_only": Edit(_SCORED, "return float(log_probs[0, target[0]])"),
        # "forgetting the prompt's last position": the first target token, predicted there, is never scored
        "skips_first_target_token": (Edit("logits[len(prompt) - 1:-1]", "logits[len(prompt):-1]"),
                                     Edit(_SCORED, "return float(log_probs[torch.arange(len(target) - 1, device=device), "
                                                   "target[1:]].sum())")),
        # every target token read at the prompt's last position, as if none were fed
        "prompt_only_forward": (Edit("model(input_ids=torch.cat([prompt, target])[None])", "model(input_ids=prompt[None])"),
                                Edit("logits[len(prompt) - 1:-1]", "logits[-1:].expand(len(target), -1)")),
        "scores_the_prompt_too": Edit(_SCORED, "ids = torch.cat([prompt, target])\n"
                                               "    all_log_probs = torch.log_softmax(logits[:-1], dim=-1)\n"
                                               "    return float(all_log_probs[torch.arange(len(ids) - 1, device=device), ids[1:]].sum())"),
        "greedy_tokens_not_target": Edit(_SCORED, "return float(log_probs.max(dim=-1).values.sum())"),
        "log_softmax_of_probabilities": Edit("torch.log_softmax(logits[len(prompt) - 1:-1], dim=-1)",
                                             "torch.log_softmax(torch.softmax(logits[len(prompt) - 1:-1], dim=-1), dim=-1)"),
        "drops_last_target_token": Edit(_SCORED, "return float(log_probs[torch.arange(len(target) - 1, device=device), "
                                                 "target[:-1]].sum())"),
        "returns_probability": Edit(_SCORED, "return float(log_probs[torch.arange(len(target), device=device), "
                                             "target].sum().exp())"),
        "prepends_eos": Edit("torch.cat([prompt, target])[None]", "torch.cat([prompt.new_tensor([50256]), prompt, target])[None]"),
        "negative_log_likelihood": Edit(_SCORED, "return -" + _SCORED[len("return "):]),
        "bits_not_nats": Edit(_SCORED, _SCORED + " / 0.6931471805599453"),
        # transformers' loss is the MEAN over the labelled tokens
        "labels_loss_mean": Edit(_SCORED, "return float(-torch.nn.functional.cross_entropy(logits[len(prompt) - 1:-1], target))"),
        # transformers' loss with every position labelled: the prompt's own tokens are scored too (and averaged)
        "labels_not_masked": '''
def continuation_logprob(model, prompt_ids, target_ids):
    model.eval()
    ids = torch.cat([torch.as_tensor(prompt_ids).reshape(-1), torch.as_tensor(target_ids).reshape(-1)])[None]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    return -float(loss) * len(torch.as_tensor(target_ids).reshape(-1))
''',
        "returns_tensor": Edit(_SCORED, "return log_probs[torch.arange(len(target), device=device), target].sum()"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        "no_no_grad": Edit('''    with torch.no_grad():
        logits = model(input_ids=torch.cat([prompt, target])[None]).logits[0]''',
                           "    logits = model(input_ids=torch.cat([prompt, target])[None]).logits[0]"),
        "eval_after_forward": (Edit("    model.eval()\n", ""),
                               Edit("    log_probs = torch.log_softmax(", "    model.eval()\n    log_probs = torch.log_softmax(")),
        "2d_inputs_not_flattened": (Edit("prompt = torch.as_tensor(prompt_ids, device=device).reshape(-1)",
                                         "prompt = torch.as_tensor(prompt_ids, device=device)"),
                                    Edit("target = torch.as_tensor(target_ids, device=device).reshape(-1)",
                                         "target = torch.as_tensor(target_ids, device=device)")),
    },
    "occlusion_attribution": {
        "reversed_sign": Edit("return totals[n] - totals[:n]", "return totals[:n] - totals[n]"),
        "replaces_next_token": Edit("rows[torch.arange(n), torch.arange(n)] = replace_id",
                                    "rows[torch.arange(n), torch.arange(n) + 1] = replace_id"),
        "replaces_previous_token": Edit("rows[torch.arange(n), torch.arange(n)] = replace_id",
                                        "rows[torch.arange(n), torch.arange(n) - 1] = replace_id"),
        "ignores_replace_id": Edit("= replace_id", "= 0"),
        "probability_drop": Edit("return totals[n] - totals[:n]", "return totals[n].exp() - totals[:n].exp()"),
        "relative_drop": Edit("return totals[n] - totals[:n]", "return (totals[n] - totals[:n]) / totals[n].abs()"),
        "absolute_drop": Edit("return totals[n] - totals[:n]", "return (totals[n] - totals[:n]).abs()"),
        "normalised_scores": Edit("return totals[n] - totals[:n]",
                                  "return (totals[n] - totals[:n]) / (totals[n] - totals[:n]).abs().sum()"),
        # keep-one-in: every prompt token replaced but token i
        "keeps_only_token_i": Edit("rows[torch.arange(n), torch.arange(n)] = replace_id",
                                   "kept = rows[torch.arange(n), torch.arange(n)].clone()\n"
                                   "    rows[:n, :n] = replace_id\n"
                                   "    rows[torch.arange(n), torch.arange(n)] = kept"),
        "per_target_token_scores": Edit("[..., 0].sum(dim=-1))", "[..., 0])"),
        # token i hidden from attention (attention_mask 0) instead of replaced: another perturbation
        "attention_mask_not_replacement": (
            Edit("rows[torch.arange(n), torch.arange(n)] = replace_id",
                 "mask = torch.ones_like(rows)\n    mask[torch.arange(n), torch.arange(n)] = 0"),
            Edit("for batch in rows.split(batch_size):", "for batch, batch_mask in zip(rows.split(batch_size), mask.split(batch_size)):"),
            Edit("model(input_ids=batch, logits_to_keep", "model(input_ids=batch, attention_mask=batch_mask, logits_to_keep")),
        "softmax_not_log_softmax": Edit("torch.log_softmax(", "torch.softmax("),
        "off_by_one_logits": Edit("logits_to_keep=len(target) + 1).logits[:, :-1]", "logits_to_keep=len(target) + 1).logits[:, 1:]"),
        "mean_over_target": Edit("[..., 0].sum(dim=-1))", "[..., 0].mean(dim=-1))"),
        "first_target_token_only": Edit("[..., 0].sum(dim=-1))", "[..., 0][:, 0])"),
        "keeps_the_unoccluded_row": Edit("return totals[n] - totals[:n]", "return totals[n] - totals"),
        "base_is_first_row": Edit("return totals[n] - totals[:n]", "return totals[0] - totals[:n]"),
        # what DataLoader(drop_last=True) does: the rows of the last, short batch are never scored
        "drops_last_batch": Edit("for batch in rows.split(batch_size):",
                                 "for start in range(0, len(rows) - batch_size + 1, batch_size):\n"
                                 "            batch = rows[start:start + batch_size]"),
        "one_row_per_pass": Edit("rows.split(batch_size)", "rows.split(1)"),
        "ignores_batch_size": Edit("rows.split(batch_size)", "[rows]"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        # the forward passes record a graph (no torch.no_grad)
        "no_no_grad": (Edit("    with torch.no_grad():\n        for batch", "    if True:\n        for batch"),
                       Edit("totals = torch.cat(totals).float().cpu()", "totals = torch.cat(totals).detach().float().cpu()")),
        "returns_list": Edit("return totals[n] - totals[:n]", "return (totals[n] - totals[:n]).tolist()"),
        # a loop that writes replace_id into one shared sequence: every row keeps the tokens replaced before it
        "cumulative_in_place": '''
def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    n = len(prompt)
    ids = torch.cat([prompt, target])
    rows = [ids.clone()]
    for i in range(n):
        ids[i] = replace_id  # no copy: the earlier replacements stay
        rows.append(ids.clone())
    rows = torch.stack(rows)
    totals = []
    with torch.no_grad():
        for batch in rows.split(batch_size):
            lp = torch.log_softmax(model(input_ids=batch).logits[:, n - 1:-1], dim=-1)
            totals.append(lp[:, torch.arange(len(target)), target].sum(-1))
    totals = torch.cat(totals)
    return totals[0] - totals[1:]
''',
        # the token taken out of the sequence (a shorter prompt), not replaced
        "deletes_the_token": '''
def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1).tolist()
    target = torch.as_tensor(target_ids).reshape(-1).tolist()
    n = len(prompt)
    rows = [prompt[:i] + prompt[i + 1:] for i in range(n)] + [prompt]
    totals = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            for r in chunk:
                logits = model(input_ids=torch.tensor([r + target])).logits[0, len(r) - 1:-1]
                totals.append(float(torch.log_softmax(logits, -1)[torch.arange(len(target)), torch.tensor(target)].sum()))
    totals = torch.tensor(totals)
    return totals[n] - totals[:n]
''',
        # every position of prompt + target occluded: the target is what is explained, it must stay
        "occludes_the_target_too": '''
def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    n, length = len(prompt), len(prompt) + len(target)
    rows = torch.cat([prompt, target]).repeat(length + 1, 1)
    rows[torch.arange(length), torch.arange(length)] = replace_id
    totals = []
    with torch.no_grad():
        for batch in rows.split(batch_size):
            lp = torch.log_softmax(model(input_ids=batch).logits[:, n - 1:-1], dim=-1)
            totals.append(lp[:, torch.arange(len(target)), target].sum(-1))
    totals = torch.cat(totals)
    return totals[length] - totals[:length]
''',
    },
    "grad_x_input": {
        "gradient_only": Edit("(x * grad).sum(dim=-1)", "grad.sum(dim=-1)"),
        "abs_over_dims": Edit("(x * grad).sum(dim=-1)", "(x * grad).abs().sum(dim=-1)"),
        "abs_of_sum": Edit("(x * grad).sum(dim=-1)", "(x * grad).sum(dim=-1).abs()"),
        "l2_norm_over_dims": Edit("(x * grad).sum(dim=-1)", "(x * grad).norm(dim=-1)"),
        "mean_over_dims": Edit("(x * grad).sum(dim=-1)", "(x * grad).mean(dim=-1)"),
        "gradient_norm": Edit("(x * grad).sum(dim=-1)", "grad.norm(dim=-1)"),
        "normalised": Edit("return (x * grad).sum(dim=-1)", "return ((x * grad).sum(dim=-1) / (x * grad).sum(dim=-1).abs().sum())"),
        # the gradient of the embedding TABLE's rows: a token that occurs twice gets both positions' gradients
        "gradient_of_embedding_table": '''
def grad_x_input(model, prompt_ids, target_ids):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    table = model.get_input_embeddings().weight
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=torch.cat([prompt, target])[None]).logits[0, len(prompt) - 1:-1]
    torch.log_softmax(logits, -1)[torch.arange(len(target)), target].sum().backward()
    grad = table.grad[prompt]
    model.zero_grad(set_to_none=True)
    return (table[prompt] * grad).sum(-1).detach()
''',
        "attributes_the_logit": Edit("torch.log_softmax(model(inputs_embeds=inputs).logits[0, len(prompt) - 1:-1], dim=-1)",
                                     "model(inputs_embeds=inputs).logits[0, len(prompt) - 1:-1]"),
        "attributes_the_probabilities": Edit("torch.log_softmax(model(inputs_embeds", "torch.softmax(model(inputs_embeds"),
        "attributes_the_probability": Edit("[torch.arange(len(target), device=device), target].sum(), x)",
                                           "[torch.arange(len(target), device=device), target].sum().exp(), x)"),
        "gradient_of_mean": Edit("[torch.arange(len(target), device=device), target].sum(), x)",
                                 "[torch.arange(len(target), device=device), target].mean(), x)"),
        # the training loss: the mean negative log-likelihood
        "gradient_of_loss": Edit("log_probs[torch.arange(len(target), device=device), target].sum(), x)",
                                 "-log_probs[torch.arange(len(target), device=device), target].mean(), x)"),
        "first_target_token_only": Edit("log_probs[torch.arange(len(target), device=device), target].sum(), x)",
                                        "log_probs[0, target[0]], x)"),
        "off_by_one_logits": Edit(".logits[0, len(prompt) - 1:-1]", ".logits[0, len(prompt):]"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        "keeps_hidden_dims": Edit("return (x * grad).sum(dim=-1).detach()", "return (x * grad).detach()"),
        # the target's embeddings attributed too: one score per prompt AND target token
        "attributes_the_target_too": (
            Edit("x = embed(prompt).detach().requires_grad_()", "x = embed(torch.cat([prompt, target])).detach().requires_grad_()"),
            Edit("inputs = torch.cat([x, embed(target).detach()])[None]", "inputs = x[None]")),
        # position embeddings added by hand, then once more inside the model
        # the gradient multiplied by the first hidden state (word + position embedding), not by the word embedding
        "multiplies_by_hidden_state_0": Edit(
            "return (x * grad).sum(dim=-1)",
            "return ((x + model.transformer.wpe(torch.arange(len(prompt), device=device))) * grad).sum(dim=-1)"),
        "positions_added_twice": Edit(
            "x = embed(prompt).detach().requires_grad_()",
            "x = (embed(prompt) + model.transformer.wpe(torch.arange(len(prompt), device=device))).detach().requires_grad_()"),
        "sign_of_loss": Edit("(grad,) = torch.autograd.grad(log_probs", "(grad,) = torch.autograd.grad(-log_probs"),
    },
    "integrated_gradients": {
        "times_x_not_difference": Edit("attr = ((x - x0) * gradient_sum", "attr = (x * gradient_sum"),
        "gradient_at_input_only": Edit("path = (x0 + chunk[:, None, None] * (x - x0)).requires_grad_()",
                                       "path = x.repeat(len(chunk), 1, 1).requires_grad_()"),
        "gradient_only": Edit("attr = ((x - x0) * gradient_sum / n_steps).sum(dim=-1)",
                              "attr = (gradient_sum / n_steps).sum(dim=-1)"),
        "abs_over_dims": Edit("* gradient_sum / n_steps).sum(dim=-1)", "* gradient_sum / n_steps).abs().sum(dim=-1)"),
        "norm_over_dims": Edit("* gradient_sum / n_steps).sum(dim=-1)", "* gradient_sum / n_steps).norm(dim=-1)"),
        "mean_over_dims": Edit("* gradient_sum / n_steps).sum(dim=-1)", "* gradient_sum / n_steps).mean(dim=-1)"),
        "attributes_the_logit": Edit("log_probs = torch.log_softmax(logits, dim=-1)", "log_probs = logits"),
        "attributes_the_probability": Edit("[..., 0].sum(dim=-1)\n", "[..., 0].sum(dim=-1).exp()\n"),
        "sum_of_probabilities": Edit("log_probs = torch.log_softmax(logits, dim=-1)", "log_probs = torch.softmax(logits, dim=-1)"),
        "mean_over_target": Edit("[..., 0].sum(dim=-1)\n", "[..., 0].mean(dim=-1)\n"),
        "default_baseline_token_zero": Edit("x0 = torch.zeros_like(x) if baseline_id is None else",
                                            "x0 = embed(torch.zeros_like(prompt)) if baseline_id is None else"),
        "ignores_baseline_id": Edit(
            "x0 = torch.zeros_like(x) if baseline_id is None else embed(torch.full_like(prompt, baseline_id))",
            "x0 = torch.zeros_like(x)"),
        "baseline_is_eos_by_default": Edit("x0 = torch.zeros_like(x) if baseline_id is None else",
                                           "x0 = embed(torch.full_like(prompt, 50256)) if baseline_id is None else"),
        "path_from_zero": Edit("path = (x0 + chunk[:, None, None] * (x - x0))", "path = (chunk[:, None, None] * x)"),
        "reversed_sign": Edit("attr = ((x - x0) * gradient_sum", "attr = ((x0 - x) * gradient_sum"),
        "gradients_summed_not_averaged": Edit("* gradient_sum / n_steps)", "* gradient_sum)"),
        "last_chunk_only": Edit("gradient_sum += grads.sum(dim=0)", "gradient_sum = grads.sum(dim=0)"),
        "ignores_n_steps": (Edit("(torch.arange(n_steps, device=device, dtype=x.dtype) + 0.5) / n_steps",
                                 "(torch.arange(50, device=device, dtype=x.dtype) + 0.5) / 50"),
                            Edit("gradient_sum / n_steps", "gradient_sum / 50")),
        "last_chunk_dropped": Edit("for chunk in alphas.split(32):", "for chunk in alphas.split(32)[:max(1, n_steps // 32)]:"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        "off_by_one_logits": Edit(".logits[:, :-1]  # the target's predictors", ".logits[:, 1:]  # the target's predictors"),
        "first_target_token_only": Edit("[..., 0].sum(dim=-1)\n", "[..., 0][:, 0]\n"),
        "delta_unsigned": Edit("delta = float(attr.sum() - (ends[0] - ends[1]))", "delta = float(abs(attr.sum() - (ends[0] - ends[1])))"),
        "delta_wrong_sign": Edit("delta = float(attr.sum() - (ends[0] - ends[1]))", "delta = float((ends[0] - ends[1]) - attr.sum())"),
        "delta_is_difference_only": Edit("delta = float(attr.sum() - (ends[0] - ends[1]))", "delta = float(ends[0] - ends[1])"),
        "delta_is_sum_only": Edit("delta = float(attr.sum() - (ends[0] - ends[1]))", "delta = float(attr.sum())"),
        "delta_of_probabilities": Edit("delta = float(attr.sum() - (ends[0] - ends[1]))",
                                       "delta = float(attr.sum() - (ends[0].exp() - ends[1].exp()))"),
        "delta_from_zero_baseline": Edit(
            "        ends = log_prob(torch.stack([x, x0]))",
            "        ends = log_prob(torch.stack([x, torch.zeros_like(x)]))"),
        "returns_attr_only": Edit("return attr.detach().float().cpu(), delta", "return attr.detach().float().cpu()"),
        # the whole sequence on the path: the target's embeddings start from the baseline too (only the prompt's are
        # attributed, so completeness fails and the prompt's scores change)
        "target_on_the_path_too": '''
def integrated_gradients(model, prompt_ids, target_ids, n_steps=50, baseline_id=None):
    model.eval()
    prompt, target = torch.as_tensor(prompt_ids).reshape(-1), torch.as_tensor(target_ids).reshape(-1)
    n, embed = len(prompt), model.get_input_embeddings()
    ids = torch.cat([prompt, target])
    with torch.no_grad():
        x = embed(ids)
        x0 = torch.zeros_like(x) if baseline_id is None else embed(torch.full_like(ids, baseline_id))

    def log_prob(points):
        lp = torch.log_softmax(model(inputs_embeds=points).logits[:, n - 1:-1], -1)
        return lp[:, torch.arange(len(target)), target].sum(-1)

    alphas = (torch.arange(n_steps) + 0.5) / n_steps
    path = (x0 + alphas[:, None, None] * (x - x0)).requires_grad_()
    grads = torch.autograd.grad(log_prob(path).sum(), path)[0].mean(0)
    attr = ((x - x0) * grads).sum(-1)[:n]
    with torch.no_grad():
        ends = log_prob(torch.stack([x, x0]))
    return attr.detach(), float(attr.sum() - (ends[0] - ends[1]))
''',
    },
    "contrastive_attribution": {
        "reversed": Edit("(occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size)\n"
                         "            - occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size))",
                         "(occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size)\n"
                         "            - occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size))"),
        "explains_a_alone": Edit("\n            - occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size))", ")"),
        "sum_not_difference": Edit("\n            - occlusion_attribution(model, prompt_ids, target_b",
                                   "\n            + occlusion_attribution(model, prompt_ids, target_b"),
        "ratio_of_maps": Edit("\n            - occlusion_attribution(model, prompt_ids, target_b",
                              "\n            / occlusion_attribution(model, prompt_ids, target_b"),
        "absolute_difference": Edit("    return (occlusion_attribution", "    return torch.abs(occlusion_attribution"),
        "difference_normalised": Edit("    return (occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size)",
                                      "    return torch.nn.functional.normalize(occlusion_attribution(model, prompt_ids, target_a, "
                                      "replace_id, batch_size)"),
        "ignores_replace_id": (Edit("target_a, replace_id, batch_size)", "target_a, 0, batch_size)"),
                               Edit("target_b, replace_id, batch_size)", "target_b, 0, batch_size)")),
        "normalised_by_abs_sum": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    a = occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size)
    b = occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size)
    return a / a.abs().sum() - b / b.abs().sum()
''',
        "normalised_by_max": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    a = occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size)
    b = occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size)
    return a / a.abs().max() - b / b.abs().max()
''',
        # a difference of probabilities p(a) - p(b), occluded
        "probability_difference": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    prompt = torch.as_tensor(prompt_ids).reshape(-1).tolist()

    def p_diff(ids):
        return (np.exp(continuation_logprob(model, ids, target_a)) - np.exp(continuation_logprob(model, ids, target_b)))

    full = p_diff(prompt)
    return torch.tensor([full - p_diff(prompt[:i] + [replace_id] + prompt[i + 1:]) for i in range(len(prompt))])
''',
        # a gradient method where occlusion is asked for
        "grad_x_input_not_occlusion": Edit(
            "(occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size)\n"
            "            - occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size))",
            "(grad_x_input(model, prompt_ids, target_a) - grad_x_input(model, prompt_ids, target_b))"),
        # right for one-token targets only: log p(a) - log p(b) = logit_a - logit_b at the prompt's last position
        "first_token_logit_difference": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    a, b = int(torch.as_tensor(target_a).reshape(-1)[0]), int(torch.as_tensor(target_b).reshape(-1)[0])
    n = len(prompt)
    rows = prompt.repeat(n + 1, 1)
    rows[torch.arange(n), torch.arange(n)] = replace_id
    with torch.no_grad():
        logits = model(input_ids=rows).logits[:, -1]
    odds = logits[:, a] - logits[:, b]
    return (odds[n] - odds[:n]).float()
''',
        # both targets cut to the shorter one's length, so that they stack into one tensor
        "truncates_to_common_length": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    a, b = torch.as_tensor(target_a).reshape(-1), torch.as_tensor(target_b).reshape(-1)
    m = min(len(a), len(b))
    return (occlusion_attribution(model, prompt_ids, a[:m], replace_id, batch_size)
            - occlusion_attribution(model, prompt_ids, b[:m], replace_id, batch_size))
''',
    },
    "generation_attribution": {
        "argmax_at_first_position": Edit("logits[0, -1].argmax()", "logits[0, 0].argmax()"),
        "second_best_token": Edit("logits[0, -1].argmax()", "logits[0, -1].topk(2).indices[1]"),
        "context_is_prompt_only": Edit(
            "matrix[t, :n + t] = occlusion_attribution(model, context, next_id[None], replace_id, batch_size)",
            "matrix[t, :n] = occlusion_attribution(model, context[:n], next_id[None], replace_id, batch_size)"),
        "generated_tokens_not_fed_back": Edit("        context = torch.cat([context, next_id[None]])  # the new token is context for the next ones\n", ""),
        # the same slip written so that it runs: each row sized to the (unchanging) context
        "context_never_grows": (Edit("        context = torch.cat([context, next_id[None]])  # the new token is context for the next ones\n", ""),
                                Edit("matrix[t, :n + t] = occlusion_attribution", "matrix[t, :len(context)] = occlusion_attribution")),
        "shifted_columns": Edit("matrix[t, :n + t] = occlusion_attribution", "matrix[t, 1:n + t + 1] = occlusion_attribution"),
        "too_wide": Edit("matrix = torch.zeros(n_new, n + n_new - 1)", "matrix = torch.zeros(n_new, n + n_new)"),
        "transposed": Edit("return torch.tensor(generated), matrix", "return torch.tensor(generated), matrix.T"),
        "ignores_replace_id": Edit("next_id[None], replace_id, batch_size)", "next_id[None], 0, batch_size)"),
        "nan_after_context": Edit("matrix = torch.zeros(n_new, n + n_new - 1)", "matrix = torch.full((n_new, n + n_new - 1), float('nan'))"),
        "ones_after_context": Edit("matrix = torch.zeros(n_new, n + n_new - 1)", "matrix = torch.ones(n_new, n + n_new - 1)"),
        "generated_as_list": Edit("return torch.tensor(generated), matrix", "return generated, matrix"),
        "returns_whole_sequence": Edit("return torch.tensor(generated), matrix", "return context.cpu(), matrix"),
        "one_row_too_few": Edit("    for t in range(n_new):", "    for t in range(n_new - 1):"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        "prompt_2d_not_flattened": Edit("context = torch.as_tensor(prompt_ids, device=device).reshape(-1)",
                                        "context = torch.as_tensor(prompt_ids, device=device)"),
        # each row explains all tokens generated so far (teacher-forced), not the newest one
        "explains_everything_generated": (
            Edit("matrix[t, :n + t] = occlusion_attribution(model, context, next_id[None], replace_id, batch_size)",
                 "matrix[t, :n] = occlusion_attribution(model, context[:n], torch.tensor(generated), replace_id, batch_size)")),
        "gradient_rows": Edit("matrix[t, :n + t] = occlusion_attribution(model, context, next_id[None], replace_id, batch_size)",
                              "matrix[t, :n + t] = grad_x_input(model, context, next_id[None])"),
        # generate's max_length counts the prompt: no token is generated once the prompt is longer than n_new
        "generate_max_length": '''
def generation_attribution(model, prompt_ids, n_new, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(1, -1)
    n = prompt.shape[1]
    with torch.no_grad():
        sequence = model.generate(prompt, max_length=n_new, do_sample=False, pad_token_id=model.config.pad_token_id)[0]
    new = sequence[n:]
    matrix = torch.zeros(n_new, n + n_new - 1)
    for t in range(len(new)):
        matrix[t, :n + t] = occlusion_attribution(model, sequence[:n + t], new[t:t + 1], replace_id, batch_size)
    return new, matrix
''',
        "sampled_not_greedy": Edit("next_id = model(input_ids=context[None]).logits[0, -1].argmax()",
                                   "next_id = torch.multinomial(torch.softmax(model(input_ids=context[None]).logits[0, -1] / 2.0, -1), 1,\n"
                                   "                                        generator=torch.Generator().manual_seed(t))[0]"),
    },
    "deletion_curve": {
        "lowest_first": Edit("key=lambda i: (-scores[i], i)", "key=lambda i: (scores[i], i)"),
        "by_absolute_score": Edit("key=lambda i: (-scores[i], i)", "key=lambda i: (-abs(scores[i]), i)"),
        "ties_later_first": Edit("key=lambda i: (-scores[i], i)", "key=lambda i: (-scores[i], -i)"),
        "kth_token_alone": Edit("rows[k, order[:k]] = replace_id", "rows[k, order[k - 1]] = replace_id"),
        "k_plus_one_tokens": Edit("rows[k, order[:k]] = replace_id", "rows[k, order[:k + 1]] = replace_id"),
        "no_unchanged_point": (Edit("rows = torch.cat([prompt, target]).repeat(k_max + 1, 1)",
                                    "rows = torch.cat([prompt, target]).repeat(k_max, 1)"),
                               Edit("rows[k, order[:k]] = replace_id", "rows[k - 1, order[:k]] = replace_id"),
                               Edit("target.expand(k_max + 1, -1)", "target.expand(k_max, -1)")),
        "ignores_replace_id": Edit("rows[k, order[:k]] = replace_id", "rows[k, order[:k]] = 0"),
        "clips_k_max_to_prompt": Edit("    rows = torch.cat([prompt, target]).repeat(k_max + 1, 1)",
                                      "    k_max = min(k_max, n)\n    rows = torch.cat([prompt, target]).repeat(k_max + 1, 1)"),
        "k_max_exclusive": (Edit("repeat(k_max + 1, 1)", "repeat(k_max, 1)"), Edit("range(1, k_max + 1)", "range(1, k_max)"),
                            Edit("target.expand(k_max + 1, -1)", "target.expand(k_max, -1)")),
        "returns_numpy": Edit("[..., 0].sum(dim=-1).float().cpu()", "[..., 0].sum(dim=-1).float().cpu().numpy()"),
        "returns_drop": Edit("return log_probs.gather", "return -log_probs.gather"),
        "relative_to_c0": Edit("    return log_probs.gather(", "    curve = log_probs.gather(-1, target.expand(k_max + 1, -1)[..., None])"
                                                               "[..., 0].sum(dim=-1).float().cpu()\n    return curve - curve[0]\n    return log_probs.gather("),
        "probabilities_not_log": Edit("torch.log_softmax(model(", "torch.softmax(model("),
        "mean_over_target": Edit("[..., 0].sum(dim=-1).float().cpu()", "[..., 0].mean(dim=-1).float().cpu()"),
        "off_by_one_logits": Edit("logits_to_keep=len(target) + 1).logits[:, :-1]", "logits_to_keep=len(target) + 1).logits[:, 1:]"),
        "no_eval_mode": Edit("    model.eval()\n", ""),
        "replaces_target_too": Edit("rows[k, order[:k]] = replace_id",
                                    "rows[k, order[:k]] = replace_id\n        rows[k, n:] = replace_id"),
        # torch.topk cannot take more tokens than there are: k_max beyond the prompt crashes
        "topk_crashes_beyond_prompt": Edit("rows[k, order[:k]] = replace_id",
                                           "rows[k, torch.topk(torch.tensor(scores), k).indices] = replace_id"),
        # numpy's argsort reversed: highest first, but ties come later position first
        "argsort_reversed": Edit("order = sorted(range(n), key=lambda i: (-scores[i], i))",
                                 "order = np.argsort(scores)[::-1].tolist()"),
        # the tokens taken out (a shorter prompt), not replaced
        "deletes_tokens": '''
def deletion_curve(model, prompt_ids, target_ids, scores, replace_id, k_max):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1).tolist()
    target = torch.as_tensor(target_ids).reshape(-1).tolist()
    s = np.asarray(scores, dtype=float).reshape(-1)
    order = sorted(range(len(prompt)), key=lambda i: (-s[i], i))
    curve = []
    for k in range(k_max + 1):
        kept = [t for i, t in enumerate(prompt) if i not in set(order[:k])] or [replace_id]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([kept + target])).logits[0, len(kept) - 1:-1]
        curve.append(float(torch.log_softmax(logits, -1)[torch.arange(len(target)), torch.tensor(target)].sum()))
    return torch.tensor(curve)
''',
    },
}

# the intact prompt scored on its own, by continuation_logprob, and every batch only occluded prompts
_BASE_FROM_EXERCISE_1 = '''
def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    prompt = torch.as_tensor(prompt_ids).flatten()
    target = torch.as_tensor(target_ids).flatten()
    n = prompt.numel()
    full = torch.cat([prompt, target])
    base = continuation_logprob(model, prompt, target)
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            positions = torch.arange(start, min(start + batch_size, n))
            batch = full.repeat(len(positions), 1)
            batch[torch.arange(len(positions)), positions] = replace_id
            lp = torch.log_softmax(model(batch).logits[:, n - 1:n - 1 + len(target)], dim=-1)
            out.append(lp[:, torch.arange(len(target)), target].sum(dim=1))
    return base - torch.cat(out)
'''

_LISTS_AND_CROSS_ENTROPY = '''
import torch.nn.functional as F

def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    model.eval()
    prompt = [int(t) for t in torch.as_tensor(prompt_ids).view(-1)]
    target = [int(t) for t in torch.as_tensor(target_ids).view(-1)]
    n = len(prompt)
    sequences = [prompt + target] + [prompt[:i] + [replace_id] + prompt[i + 1:] + target for i in range(n)]
    values = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            batch = torch.tensor(sequences[i:i + batch_size])
            logits = model(batch).logits[:, n - 1:-1]
            nll = F.cross_entropy(logits.transpose(1, 2), torch.tensor(target).expand(len(batch), -1), reduction="none")
            values += (-nll.sum(dim=1)).tolist()
    return torch.tensor([values[0] - v for v in values[1:]])
'''

_NUMPY_LEXSORT_BATCH = '''
def deletion_curve(model, prompt_ids, target_ids, scores, replace_id, k_max):
    model.eval()
    prompt = np.asarray(torch.as_tensor(prompt_ids)).reshape(-1)
    target = np.asarray(torch.as_tensor(target_ids)).reshape(-1)
    s = np.asarray(torch.as_tensor(scores, dtype=torch.float64)).reshape(-1)
    order = np.lexsort((np.arange(len(s)), -s))
    batch = np.tile(np.concatenate([prompt, target]), (k_max + 1, 1))
    for k in range(1, k_max + 1):
        batch[k, order[:k]] = replace_id
    n = len(prompt)
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.from_numpy(batch)).logits[:, n - 1:n - 1 + len(target)].double(), -1)
    return lp[:, np.arange(len(target)), torch.from_numpy(target)].sum(1).float()
'''

# the left Riemann sum, in float64 on a copy of the model
_LEFT_RIEMANN_FLOAT64 = '''
import copy

def integrated_gradients(model, prompt_ids, target_ids, n_steps=50, baseline_id=None):
    net = copy.deepcopy(model).double().eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    n = prompt.numel()
    table = net.get_input_embeddings()
    x = table(prompt).detach()
    x0 = torch.zeros_like(x) if baseline_id is None else table.weight[baseline_id].detach().expand_as(x)
    fixed = table(target).detach()
    f = lambda pts: torch.log_softmax(net(inputs_embeds=torch.cat([pts, fixed.expand(len(pts), -1, -1)], 1)).logits[:, n - 1:-1], -1
                                      ).gather(-1, target.expand(len(pts), -1).unsqueeze(-1)).sum((1, 2))
    alphas = torch.arange(n_steps, dtype=torch.float64) / n_steps
    path = (x0 + alphas.view(-1, 1, 1) * (x - x0)).requires_grad_()
    grads = torch.autograd.grad(f(path).sum(), path)[0]
    attr = ((x - x0) * grads.mean(0)).sum(-1)
    with torch.no_grad():
        ends = f(torch.stack([x, x0]))
    return attr.float().detach(), float(attr.sum() - (ends[0] - ends[1]))
'''

# the caller's training/eval mode put back afterwards (occlusion_attribution)
_RESTORES_CALLERS_MODE = (Edit("    model.eval()\n", "    was_training = model.training\n    model.eval()\n"),
                          Edit("    return totals[n] - totals[:n]", "    model.train(was_training)\n    return totals[n] - totals[:n]"))

ALTERNATIVES = {
    "continuation_logprob": {
        "log_of_softmax": Edit("torch.log_softmax(logits[len(prompt) - 1:-1], dim=-1)",
                               "torch.softmax(logits[len(prompt) - 1:-1], dim=-1).log()"),
        # transformers' own loss: the mean cross-entropy over the labelled (target) positions
        "labels_loss": '''
def continuation_logprob(model, prompt_ids, target_ids):
    model.eval()
    prompt = list(torch.as_tensor(prompt_ids).flatten().tolist())
    target = list(torch.as_tensor(target_ids).flatten().tolist())
    ids = torch.tensor([prompt + target], device=next(model.parameters()).device)
    labels = ids.clone()
    labels[:, :len(prompt)] = -100
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss
    return -loss.item() * len(target)
''',
        # one forward pass per target token, on the prompt and the target tokens before it
        "prefix_loop": '''
def continuation_logprob(model, prompt_ids, target_ids):
    model.eval()
    context = [int(t) for t in torch.as_tensor(prompt_ids).view(-1)]
    total = 0.0
    for token in [int(t) for t in torch.as_tensor(target_ids).view(-1)]:
        with torch.inference_mode():
            last = model(torch.tensor([context])).logits[0, -1]
        total += torch.log_softmax(last, dim=0)[token].item()
        context.append(token)
    return total
''',
        "cross_entropy_sum": '''
import torch.nn.functional as F

def continuation_logprob(model, prompt_ids, target_ids):
    model.eval()
    p = torch.as_tensor(prompt_ids).reshape(-1)
    t = torch.as_tensor(target_ids).reshape(-1)
    with torch.no_grad():
        out = model(input_ids=torch.cat((p, t)).unsqueeze(0))
    return float(-F.cross_entropy(out.logits[0, p.numel() - 1:-1], t, reduction="sum"))
''',
        "float64_gather_logsumexp": '''
def continuation_logprob(model, prompt_ids, target_ids):
    model.eval()
    p = torch.as_tensor(prompt_ids).reshape(1, -1)
    t = torch.as_tensor(target_ids).reshape(1, -1)
    with torch.no_grad():
        logits = model(torch.hstack([p, t])).logits.double()
    scoring = logits[:, p.shape[1] - 1:p.shape[1] + t.shape[1] - 1]
    picked = scoring.gather(2, t.unsqueeze(-1)).squeeze(-1)
    return (picked - torch.logsumexp(scoring, dim=-1)).sum().item()
''',
        "log_of_softmax_numpy": '''
def continuation_logprob(model, prompt_ids, target_ids):
    model.eval()
    prompt = np.asarray(torch.as_tensor(prompt_ids)).ravel()
    target = np.asarray(torch.as_tensor(target_ids)).ravel()
    with torch.no_grad():
        logits = model(input_ids=torch.from_numpy(np.concatenate([prompt, target]))[None]).logits[0].numpy()
    rows = logits[len(prompt) - 1:len(prompt) - 1 + len(target)].astype(np.float64)
    probs = np.exp(rows - rows.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return float(np.log(probs[np.arange(len(target)), target]).sum())
''',
    },
    "occlusion_attribution": {
        # batches built lazily, None standing for the intact prompt
        "lazy_batches_gather": '''
def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    model.eval()
    p, t = torch.as_tensor(prompt_ids).view(-1), torch.as_tensor(target_ids).view(-1)
    n, m = p.numel(), t.numel()
    seq = torch.cat([p, t])
    which = list(range(n)) + [None]
    scores = []
    with torch.no_grad():
        for s in range(0, n + 1, batch_size):
            chunk = which[s:s + batch_size]
            batch = seq.repeat(len(chunk), 1)
            for r, i in enumerate(chunk):
                if i is not None:
                    batch[r, i] = replace_id
            lp = model(batch).logits[:, n - 1:n + m - 1].log_softmax(-1)
            scores.append(lp.gather(2, t.expand(len(chunk), m).unsqueeze(2)).squeeze(2).sum(1))
    s = torch.cat(scores)
    return s[-1] - s[:-1]
''',
        # the caller's training/eval mode put back afterwards
        "restores_callers_mode": _RESTORES_CALLERS_MODE,
        "base_from_exercise_1": _BASE_FROM_EXERCISE_1,
        "where_on_identity": '''
def occlusion_attribution(model, prompt_ids, target_ids, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    n, m = len(prompt), len(target)
    eye = torch.eye(n + 1, n, dtype=torch.bool)  # last row: nothing replaced
    occluded = torch.where(eye, torch.full_like(prompt, replace_id), prompt.expand(n + 1, n))
    rows = torch.cat([occluded, target.expand(n + 1, m)], dim=1)
    scores = torch.empty(n + 1, dtype=torch.float64)
    with torch.no_grad():
        for lo in range(0, n + 1, batch_size):
            logits = model(input_ids=rows[lo:lo + batch_size]).logits[:, n - 1:n + m - 1].double()
            lp = logits.log_softmax(-1)
            scores[lo:lo + batch_size] = torch.stack([lp[:, j, target[j]] for j in range(m)], dim=1).sum(1)
    return (scores[-1] - scores[:-1]).float()
''',
        "lists_and_cross_entropy": _LISTS_AND_CROSS_ENTROPY,
    },
    "grad_x_input": {
        # in float64, on a copy of the model (the caller's model untouched)
        "float64_copy": '''
import copy

def grad_x_input(model, prompt_ids, target_ids):
    net = copy.deepcopy(model).double().eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    x = net.get_input_embeddings()(prompt).detach().requires_grad_(True)
    y = net.get_input_embeddings()(target).detach()
    logits = net(inputs_embeds=torch.cat([x, y]).unsqueeze(0)).logits[0, len(prompt) - 1:len(prompt) + len(target) - 1]
    f = torch.log_softmax(logits, dim=-1).gather(1, target.unsqueeze(1)).sum()
    f.backward()
    return (x * x.grad).sum(dim=1).detach().float()
''',
        # the gradient caught at the embedding layer's output by a hook, the model fed token ids
        "embedding_hook": '''
def grad_x_input(model, prompt_ids, target_ids):
    model.eval()
    p = torch.as_tensor(prompt_ids).reshape(-1)
    t = torch.as_tensor(target_ids).reshape(-1)
    store = {}

    def keep(module, inputs, output):
        output.retain_grad()
        store["x"] = output

    handle = model.get_input_embeddings().register_forward_hook(keep)
    try:
        logits = model(input_ids=torch.cat([p, t])[None]).logits[0]
    finally:
        handle.remove()
    score = torch.log_softmax(logits[len(p) - 1:-1], -1).gather(1, t[:, None]).sum()
    score.backward()
    x, grad = store["x"][0, :len(p)].detach(), store["x"].grad[0, :len(p)]
    model.zero_grad(set_to_none=True)
    return torch.einsum("nd,nd->n", x, grad)
''',
        # the whole sequence's embeddings differentiated, the prompt's part kept; -cross-entropy as F
        "whole_sequence_cross_entropy": '''
import torch.nn.functional as F

def grad_x_input(model, prompt_ids, target_ids):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).flatten()
    target = torch.as_tensor(target_ids).flatten()
    emb = model.get_input_embeddings().weight[torch.cat([prompt, target])].detach().clone().requires_grad_(True)
    logits = model(inputs_embeds=emb.unsqueeze(0)).logits[0]
    f = -F.cross_entropy(logits[len(prompt) - 1:len(prompt) + len(target) - 1], target, reduction="sum")
    g = torch.autograd.grad(f, emb)[0]
    return (emb * g)[:len(prompt)].sum(1).detach()
''',
        "loop_over_target_tokens": '''
def grad_x_input(model, prompt_ids, target_ids):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    table = model.get_input_embeddings()
    x = table(prompt).detach().requires_grad_()
    total = torch.zeros_like(x)
    for j in range(len(target)):  # d/dx of a sum: the sum of the tokens' gradients
        inputs = torch.cat([x, table(target[:j]).detach()])[None]
        lp = torch.log_softmax(model(inputs_embeds=inputs).logits[0, -1], -1)[target[j]]
        total += torch.autograd.grad(lp, x)[0]
    return (x.detach() * total).sum(-1)
''',
    },
    "integrated_gradients": {
        "right_riemann": Edit("(torch.arange(n_steps, device=device, dtype=x.dtype) + 0.5) / n_steps",
                              "(torch.arange(n_steps, device=device, dtype=x.dtype) + 1) / n_steps"),
        "gauss_legendre": '''
def integrated_gradients(model, prompt_ids, target_ids, n_steps=50, baseline_id=None):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    n = len(prompt)
    emb = model.get_input_embeddings()
    x = emb(prompt).detach()
    tail = emb(target).detach()
    base = torch.zeros_like(x) if baseline_id is None else emb(torch.tensor([baseline_id] * n)).detach()

    def F(p):
        out = model(inputs_embeds=torch.cat([p, tail.expand(p.shape[0], -1, -1)], 1)).logits[:, n - 1:-1]
        return torch.log_softmax(out, -1)[:, torch.arange(len(target)), target].sum(-1)

    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=x.dtype)
    w = torch.tensor(weights / 2, dtype=x.dtype)
    path = (base + alphas[:, None, None] * (x - base)).requires_grad_()
    g = torch.autograd.grad(F(path).sum(), path)[0]
    attr = ((x - base) * (w[:, None, None] * g).sum(0)).sum(-1).detach()
    with torch.no_grad():
        delta = attr.sum() - (F(x[None]) - F(base[None]))[0]
    return attr, delta.item()
''',
        "trapezoid_one_point_at_a_time": '''
def integrated_gradients(model, prompt_ids, target_ids, n_steps=50, baseline_id=None):
    model.eval()
    p = torch.as_tensor(prompt_ids).reshape(-1)
    t = torch.as_tensor(target_ids).reshape(-1)
    E = model.get_input_embeddings()
    with torch.no_grad():
        x, y = E(p), E(t)
        b = E(torch.full_like(p, baseline_id)) if baseline_id is not None else x * 0

    def logp(points):
        logits = model(inputs_embeds=torch.cat([points, y])[None]).logits[0, len(p) - 1:-1]
        return torch.log_softmax(logits, -1)[torch.arange(len(t)), t].sum()

    grads = []
    for a in torch.linspace(0, 1, n_steps + 1):
        point = (b + a * (x - b)).requires_grad_()
        grads.append(torch.autograd.grad(logp(point), point)[0])
    grads = torch.stack(grads)
    avg = (grads[:-1] + grads[1:]).sum(0) / (2 * n_steps)
    attr = ((x - b) * avg).sum(-1)
    with torch.no_grad():
        delta = float(attr.sum() - (logp(x) - logp(b)))
    return attr, delta
''',
        "left_riemann_float64": _LEFT_RIEMANN_FLOAT64,
        # captum's IntegratedGradients on a function of the prompt's embeddings
        "captum_on_embeddings": '''
from captum.attr import IntegratedGradients

def integrated_gradients(model, prompt_ids, target_ids, n_steps=50, baseline_id=None):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    target = torch.as_tensor(target_ids).reshape(-1)
    n = len(prompt)
    emb = model.get_input_embeddings()
    x = emb(prompt[None]).detach()
    tail = emb(target[None]).detach()
    x0 = torch.zeros_like(x) if baseline_id is None else emb(torch.full_like(prompt[None], baseline_id)).detach()

    def f(points):
        logits = model(inputs_embeds=torch.cat([points, tail.expand(len(points), -1, -1)], 1)).logits[:, n - 1:-1]
        return torch.log_softmax(logits, -1)[:, torch.arange(len(target)), target].sum(-1)

    attr, delta = IntegratedGradients(f).attribute(x, baselines=x0, n_steps=n_steps, method="riemann_trapezoid",
                                                   return_convergence_delta=True)
    return attr.sum(-1)[0].detach(), float(delta)
''',
    },
    "contrastive_attribution": {
        # Exercise 2 twice, the difference taken in numpy (a float64 tensor back)
        "numpy_difference": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    first = occlusion_attribution(model, prompt_ids, target_a, replace_id, batch_size=batch_size).numpy()
    second = occlusion_attribution(model, prompt_ids, target_b, replace_id, batch_size=batch_size).numpy()
    return torch.from_numpy(np.subtract(first, second, dtype=np.float64))
''',
        # one batched occlusion of the log-odds, without calling Exercise 2
        "one_pass_log_odds": '''
def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    n = len(prompt)
    rows = prompt.repeat(n + 1, 1)
    rows[range(n), range(n)] = replace_id

    def score(target):
        target = torch.as_tensor(target).reshape(-1)
        full = torch.cat([rows, target.expand(n + 1, -1)], 1)
        out = []
        with torch.no_grad():
            for batch in full.split(batch_size):
                lp = torch.log_softmax(model(batch).logits[:, n - 1:-1], -1)
                out.append(lp[:, torch.arange(len(target)), target].sum(-1))
        return torch.cat(out)

    odds = score(target_a) - score(target_b)
    return odds[n] - odds[:n]
''',
        # log p(a)/p(b) per occluded prompt, with Exercise 1
        "log_ratio_loop": '''
import math

def contrastive_attribution(model, prompt_ids, target_a, target_b, replace_id, batch_size=16):
    prompt = [int(t) for t in torch.as_tensor(prompt_ids).reshape(-1)]
    odds = lambda p: math.log(math.exp(continuation_logprob(model, p, target_a))
                              / math.exp(continuation_logprob(model, p, target_b)))
    full = odds(prompt)
    return torch.tensor([full - odds(prompt[:i] + [replace_id] + prompt[i + 1:]) for i in range(len(prompt))])
''',
    },
    "generation_attribution": {
        # lists throughout, each row padded with zeros by concatenation
        "lists_and_padding": '''
def generation_attribution(model, prompt_ids, n_new, replace_id, batch_size=16):
    model.eval()
    tokens = torch.as_tensor(prompt_ids).flatten().tolist()
    width = len(tokens) + n_new - 1
    rows, new = [], []
    for _ in range(n_new):
        with torch.no_grad():
            token = int(torch.argmax(model(torch.tensor([tokens])).logits[0, -1]))
        row = occlusion_attribution(model, tokens, [token], replace_id, batch_size).float()
        rows.append(torch.cat([row, torch.zeros(width - len(row))]))
        new.append(token)
        tokens = tokens + [token]
    return torch.tensor(new, dtype=torch.long), torch.stack(rows)
''',
        # model.generate for the tokens, then one occlusion per generated token
        "generate_then_explain": '''
def generation_attribution(model, prompt_ids, n_new, replace_id, batch_size=16):
    model.eval()
    prompt = torch.as_tensor(prompt_ids).reshape(1, -1)
    n = prompt.shape[1]
    with torch.no_grad():
        sequence = model.generate(prompt, max_new_tokens=n_new, do_sample=False,
                                  pad_token_id=model.config.pad_token_id)[0]
    rows = []
    for t in range(n_new):
        row = occlusion_attribution(model, sequence[:n + t], sequence[n + t:n + t + 1], replace_id, batch_size)
        rows.append(torch.nn.functional.pad(row, (0, n_new - 1 - t)))
    return sequence[n:], torch.stack(rows)
''',
        # greedy decoding with the key-value cache, the occlusion written out in place of Exercise 2
        "cached_greedy_inline_occlusion": '''
def generation_attribution(model, prompt_ids, n_new, replace_id, batch_size=16):
    model.eval()
    ids = [int(t) for t in torch.as_tensor(prompt_ids).flatten()]
    n = len(ids)
    new, past, feed = [], None, torch.tensor([ids])
    with torch.no_grad():
        for _ in range(n_new):
            out = model(input_ids=feed, past_key_values=past, use_cache=True)
            past = out.past_key_values
            token = int(out.logits[0, -1].argmax())
            new.append(token)
            feed = torch.tensor([[token]])
    matrix = np.zeros((n_new, n + n_new - 1), dtype=np.float32)
    for t, token in enumerate(new):
        context = ids + new[:t]
        L = len(context)
        rows = torch.tensor([context + [token]] * (L + 1))
        rows[torch.arange(L), torch.arange(L)] = replace_id
        with torch.no_grad():
            lp = torch.cat([torch.log_softmax(model(input_ids=b).logits[:, L - 1], -1)[:, token]
                            for b in rows.split(batch_size)])
        matrix[t, :L] = (lp[L] - lp[:L]).numpy()
    return torch.tensor(new), torch.from_numpy(matrix)
''',
    },
    "deletion_curve": {
        # Python's sort is stable with reverse=True too: equal scores keep their order, earlier first
        "sorted_reverse_stable": Edit("order = sorted(range(n), key=lambda i: (-scores[i], i))",
                                      "order = sorted(range(n), key=lambda i: scores[i], reverse=True)"),
        "heapq_and_loop": '''
import heapq

def deletion_curve(model, prompt_ids, target_ids, scores, replace_id, k_max):
    ids = [int(t) for t in torch.as_tensor(prompt_ids).flatten()]
    values = [float(v) for v in np.asarray(scores, dtype=float).flatten()]
    ranked = [i for _, i in heapq.nsmallest(len(ids), [(-v, i) for i, v in enumerate(values)])]
    out = torch.empty(k_max + 1)
    for k in range(k_max + 1):
        gone = set(ranked[:k])
        out[k] = continuation_logprob(model, [replace_id if i in gone else t for i, t in enumerate(ids)], target_ids)
    return out
''',
        "stable_argsort_loop": '''
def deletion_curve(model, prompt_ids, target_ids, scores, replace_id, k_max):
    prompt = torch.as_tensor(prompt_ids).reshape(-1)
    s = torch.as_tensor(np.asarray(scores, dtype=np.float64)).reshape(-1)
    order = torch.argsort(s, descending=True, stable=True)
    curve = []
    for k in range(k_max + 1):
        ids = prompt.clone()
        ids[order[:k]] = replace_id
        curve.append(continuation_logprob(model, ids, target_ids))
    return torch.tensor(curve)
''',
        "numpy_lexsort_batch": _NUMPY_LEXSORT_BATCH,
    },
}

# One mistake, the tests that fail for it (visible tests included): every other test passes.
# contrastive_attribution and generation_attribution call occlusion_attribution: their hidden tests use a reference
# one (on_its_own), their visible tests skip the value checks (saying why) when it is wrong.
ISOLATED = {
    "occlusion_attribution": {
        "reversed_sign": {"test_occlusion_attribution_visible", "test_occlusion_attribution_hidden"},
        "probability_drop": {"test_occlusion_attribution_visible", "test_occlusion_attribution_hidden"},
        "replaces_next_token": {"test_occlusion_attribution_visible", "test_occlusion_attribution_hidden"},
        "one_row_per_pass": {"test_occlusion_attribution_visible", "test_occlusion_attribution_hidden"},
        # not isolated: the dependents cannot run on a list; their visible tests should fail naming it (FAILS_NAMING)
    },
    "continuation_logprob": {
        "no_eval_mode": {"test_continuation_logprob_visible", "test_continuation_logprob_mode"},
        "mean_not_sum": {"test_continuation_logprob_visible", "test_continuation_logprob_hidden"},
    },
    "integrated_gradients": {
        "delta_wrong_sign": {"test_integrated_gradients_visible", "test_integrated_gradients_delta"},
    },
}

# The commonest slips, caught by the visible test under the exercise with a message naming the cause
# (see answers_lab1.py): wrong-answer label -> a regex the visible test's message must match.
VISIBLE = {
    "continuation_logprob": {
        "softmax_not_log_softmax": r"log-probability is never positive",
        "mean_not_sum": r"mean over the target tokens",
        "returns_tensor": r"return a Python float",
        "off_by_one_own_position": r"prompt's LAST position",
        "log_of_summed_probabilities": r"log of the summed probabilities",
        "negative_log_likelihood": r"never positive",
        "no_eval_mode": r"call model\.eval\(\) before the forward pass",
        "no_no_grad": r"torch\.no_grad",
        "2d_inputs_not_flattened": r"\[1, T\] tensors",
    },
    "occlusion_attribution": {
        "reversed_sign": r"sign is reversed",
        "replaces_next_token": r"shifted by one position",
        "replaces_previous_token": r"shifted by one position",
        "one_row_per_pass": r"put up to batch_size occluded prompts in each pass",
        "ignores_batch_size": r"batch_size=8, but a forward pass had",
        "no_eval_mode": r"training mode",
        "occludes_the_target_too": r"occlude only the prompt's tokens",
    },
    "grad_x_input": {
        "abs_of_sum": r"all positive",
        "abs_over_dims": r"all positive",
    },
    "integrated_gradients": {
        "reversed_sign": r"sign is reversed",
        "returns_attr_only": r"return a pair",
    },
    "contrastive_attribution": {
        "reversed": r"sign is reversed",
    },
    "generation_attribution": {
        "argmax_at_first_position": r"LAST position of the context",
        "nan_after_context": r"should be 0",
        "context_is_prompt_only": r"tokens generated before",
        "context_never_grows": r"Append each new token to the context",
    },
    "deletion_curve": {
        "lowest_first": r"LOWEST-scoring",
        "by_absolute_score": r"ranks by \|score\|",
        "kth_token_alone": r"cumulative",
    },
}
