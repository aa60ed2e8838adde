"""Lab 1 answers the hidden tests are tried on.

WRONG: mistakes students make (EXERCISES.md lists the classic ones; more are added here).
Each must lose points. ALTERNATIVES: correct answers written in other styles. Each must
get full marks. Every entry is the full source of the solution cell.
"""

WRONG = {
    "perturb_tokens": {
        "with_replacement": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=True)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "inverted_mask": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [0] * n; s = list(ids)
            for i in idx: m[i] = 1; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "k_range_off_by_one": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio)):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "k_from_zero": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(0, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "round_instead_of_floor": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, round(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "always_samples_per_size": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(samples_per_size):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "hard_coded_50_and_ratio": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * 0.6) + 1):
        for _ in range(min(50, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "ignores_neutral_id": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = 0
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "ignores_seed": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
        "fixed_seed_42": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = list(token_ids); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(42); seqs, masks = [], []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            idx = rng.choice(n, size=k, replace=False)
            m = [1] * n; s = list(ids)
            for i in idx: m[i] = 0; s[i] = neutral_id
            masks.append(m); seqs.append(s)
    return torch.tensor(seqs), torch.tensor(masks)
''',
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
        "no_empty_check": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = torch.as_tensor(np.array(token_ids, dtype=np.int64)); n = len(ids)
    rng = np.random.default_rng(seed); masks = []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            m = np.ones(n, dtype=np.int64); m[rng.choice(n, size=k, replace=False)] = 0; masks.append(m)
    masks = torch.tensor(np.array(masks)).reshape(-1, n)
    return torch.where(masks == 1, ids, torch.tensor(neutral_id)), masks
''',
        "float_masks": '''
def perturb_tokens(token_ids, neutral_id, max_mask_ratio=0.6, samples_per_size=50, seed=42):
    ids = torch.as_tensor(np.array(token_ids, dtype=np.int64)); n = len(ids)
    if n == 0: raise ValueError("empty")
    rng = np.random.default_rng(seed); masks = []
    for k in range(1, int(n * max_mask_ratio) + 1):
        for _ in range(min(samples_per_size, math.comb(n, k))):
            m = np.ones(n); m[rng.choice(n, size=k, replace=False)] = 0; masks.append(m)
    masks = torch.tensor(np.array(masks), dtype=torch.float32)
    return torch.where(masks == 1, ids, torch.tensor(neutral_id)), masks
''',
    },
    "predict_proba": {
        "softmax_over_batch": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            out.append(torch.softmax(model(sequences[i:i + batch_size]).logits, dim=0))
    return torch.cat(out)
''',
        "returns_logits": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            out.append(model(sequences[i:i + batch_size]).logits)
    return torch.cat(out)
''',
        "sigmoid_instead_of_softmax": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            out.append(torch.sigmoid(model(sequences[i:i + batch_size]).logits))
    return torch.cat(out)
''',
        "shuffled_batches": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    loader = DataLoader(TensorDataset(sequences), batch_size=batch_size, shuffle=True)
    with torch.no_grad():
        for (batch,) in loader:
            out.append(torch.softmax(model(batch).logits, dim=-1))
    return torch.cat(out)
''',
        "drops_last_batch": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    loader = DataLoader(TensorDataset(sequences), batch_size=batch_size, drop_last=True)
    with torch.no_grad():
        for (batch,) in loader:
            out.append(torch.softmax(model(batch).logits, dim=-1))
    return torch.cat(out)
''',
        "no_eval_mode": '''
def predict_proba(model, sequences, batch_size=32):
    out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            out.append(torch.softmax(model(sequences[i:i + batch_size]).logits, dim=-1))
    return torch.cat(out)
''',
        "keeps_graph": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    for i in range(0, len(sequences), batch_size):
        out.append(torch.softmax(model(sequences[i:i + batch_size]).logits, dim=-1))
    return torch.cat(out)
''',
        "not_batched": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(sequences).logits, dim=-1)
''',
        "one_row_at_a_time": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.softmax(model(row[None]).logits, dim=-1) for row in sequences])
''',
        "hard_coded_batch_32": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(sequences), 32):
            out.append(torch.softmax(model(sequences[i:i + 32]).logits, dim=-1))
    return torch.cat(out)
''',
        "skips_last_partial_batch_by_range": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for b in range(len(sequences) // batch_size):
            out.append(torch.softmax(model(sequences[b * batch_size:(b + 1) * batch_size]).logits, dim=-1))
    return torch.cat(out)
''',
        "returns_numpy": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            out.append(torch.softmax(model(sequences[i:i + batch_size]).logits, dim=-1))
    return torch.cat(out).numpy()
''',
        "only_positive_column": '''
def predict_proba(model, sequences, batch_size=32):
    model.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch_size):
            out.append(torch.softmax(model(sequences[i:i + batch_size]).logits, dim=-1)[:, 1:])
    return torch.cat(out)
''',
    },
    "kernel_weights": {
        "unsquared_distance": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = 1 - F.cosine_similarity(z, torch.ones_like(z), dim=1)
    return torch.exp(-d / sigma ** 2)
''',
        "similarity_not_distance": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); c = F.cosine_similarity(z, torch.ones_like(z), dim=1)
    return torch.exp(-c ** 2 / sigma ** 2)
''',
        "divides_by_sigma": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = 1 - F.cosine_similarity(z, torch.ones_like(z), dim=1)
    return torch.exp(-d ** 2 / sigma)
''',
        "gaussian_two_sigma_squared": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = 1 - F.cosine_similarity(z, torch.ones_like(z), dim=1)
    return torch.exp(-d ** 2 / (2 * sigma ** 2))
''',
        "global_original_mask": '''
original_mask = torch.ones(12)
def kernel_weights(masks, sigma=0.5):
    d = 1 - F.cosine_similarity(masks.float(), original_mask[None, :], dim=1)
    return torch.exp(-d ** 2 / sigma ** 2)
''',
        "nan_on_all_zero_row": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); ones = torch.ones_like(z)
    cos = (z * ones).sum(1) / (z.norm(dim=1) * ones.norm(dim=1))
    return torch.exp(-(1 - cos) ** 2 / sigma ** 2)
''',
        "euclidean_distance": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = (z - 1).norm(dim=1)
    return torch.exp(-d ** 2 / sigma ** 2)
''',
        "hard_coded_sigma": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = 1 - F.cosine_similarity(z, torch.ones_like(z), dim=1)
    return torch.exp(-d ** 2 / 0.25)
''',
        "keeps_dim": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = 1 - F.cosine_similarity(z, torch.ones_like(z), dim=1)
    return torch.exp(-d ** 2 / sigma ** 2)[:, None]
''',
        "cosine_over_wrong_dim": '''
def kernel_weights(masks, sigma=0.5):
    z = masks.float(); d = 1 - F.cosine_similarity(z, torch.ones_like(z), dim=0)
    return torch.exp(-d ** 2 / sigma ** 2)
''',
    },
    "weighted_mse": {
        "broadcast_n_by_n": '''
def weighted_mse(pred, target, weights):
    return (weights * (target - pred) ** 2).mean()
''',
        "unweighted": '''
def weighted_mse(pred, target, weights):
    return ((target.reshape(-1) - pred.reshape(-1)) ** 2).mean()
''',
        "normalised_by_weight_sum": '''
def weighted_mse(pred, target, weights):
    e = target.reshape(-1) - pred.reshape(-1)
    return (weights * e ** 2).sum() / weights.sum()
''',
        "absolute_error": '''
def weighted_mse(pred, target, weights):
    e = target.reshape(-1) - pred.reshape(-1)
    return (weights * e.abs()).mean()
''',
        "returns_python_float": '''
def weighted_mse(pred, target, weights):
    e = target.reshape(-1) - pred.reshape(-1)
    return float((weights * e ** 2).mean())
''',
        "weights_squared": '''
def weighted_mse(pred, target, weights):
    e = target.reshape(-1) - pred.reshape(-1)
    return ((weights * e) ** 2).mean()
''',
        "sum_not_mean": '''
def weighted_mse(pred, target, weights):
    e = target.reshape(-1) - pred.reshape(-1)
    return (weights * e ** 2).sum()
''',
        "squeeze_only_pred": '''
def weighted_mse(pred, target, weights):
    return (weights * (target - pred.squeeze()) ** 2).mean()
''',
    },
    "fit_surrogate": {
        "no_zero_grad": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X, y, weights.float()), batch_size=batch_size, shuffle=True)
    for _ in range(epochs):
        for xb, yb, wb in loader:
            loss = weighted_mse(lin(xb), yb, wb); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
        "ignores_weights": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad(); loss = weighted_mse(lin(xb), yb, torch.ones(len(xb))); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
        "wrong_target_column": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 0] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X, y, weights.float()), batch_size=batch_size, shuffle=True)
    for _ in range(epochs):
        for xb, yb, wb in loader:
            opt.zero_grad(); loss = weighted_mse(lin(xb), yb, wb); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
        "no_seed": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X, y, weights.float()), batch_size=batch_size, shuffle=True)
    for _ in range(epochs):
        for xb, yb, wb in loader:
            opt.zero_grad(); loss = weighted_mse(lin(xb), yb, wb); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
        "ignores_epochs": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X, y, weights.float()), batch_size=batch_size, shuffle=True)
    for _ in range(10):
        for xb, yb, wb in loader:
            opt.zero_grad(); loss = weighted_mse(lin(xb), yb, wb); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
        "one_step_per_epoch": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    for _ in range(epochs):
        idx = torch.randperm(len(X))[:batch_size]
        opt.zero_grad(); loss = weighted_mse(lin(X[idx]), y[idx], weights[idx]); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
        "returns_weight_with_grad": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X, y, weights.float()), batch_size=batch_size, shuffle=True)
    for _ in range(epochs):
        for xb, yb, wb in loader:
            opt.zero_grad(); loss = weighted_mse(lin(xb), yb, wb); loss.backward(); opt.step()
    return lin.weight.reshape(-1), lin.bias
''',
        "only_first_batch": '''
def fit_surrogate(masks, targets, weights, epochs=10, lr=0.05, batch_size=64, seed=0):
    torch.manual_seed(seed)
    X = masks.float(); y = targets.float()
    y = y[:, 1] if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    lin = nn.Linear(X.shape[1], 1); opt = torch.optim.Adam(lin.parameters(), lr=lr)
    xb, yb, wb = X[:batch_size], y[:batch_size], weights[:batch_size]
    for _ in range(epochs):
        opt.zero_grad(); loss = weighted_mse(lin(xb), yb, wb); loss.backward(); opt.step()
    return lin.weight.detach().reshape(-1), float(lin.bias.item())
''',
    },
    "token_importance": {
        "sums_duplicates": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, coef):
        table[t.lstrip("Ġ")] = table.get(t.lstrip("Ġ"), 0.0) + float(w)
    return sorted(table.items(), key=lambda p: abs(p[1]), reverse=True)
''',
        "signed_sort": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, coef):
        table.setdefault(t.lstrip("Ġ"), []).append(float(w))
    return sorted(((k, sum(v) / len(v)) for k, v in table.items()), key=lambda p: p[1], reverse=True)
''',
        "ascending": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, coef):
        table.setdefault(t.lstrip("Ġ"), []).append(float(w))
    return sorted(((k, sum(v) / len(v)) for k, v in table.items()), key=lambda p: abs(p[1]))
''',
        "keeps_g": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, coef):
        table.setdefault(t, []).append(float(w))
    return sorted(((k, sum(v) / len(v)) for k, v in table.items()), key=lambda p: abs(p[1]), reverse=True)
''',
        "last_duplicate_wins": '''
def token_importance(tokens, coef):
    table = {t.lstrip("Ġ"): float(w) for t, w in zip(tokens, coef)}
    return sorted(table.items(), key=lambda p: abs(p[1]), reverse=True)
''',
        "no_merge": '''
def token_importance(tokens, coef):
    pairs = [(t.lstrip("Ġ"), float(w)) for t, w in zip(tokens, coef)]
    return sorted(pairs, key=lambda p: abs(p[1]), reverse=True)
''',
        "abs_weights_returned": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, coef):
        table.setdefault(t.lstrip("Ġ"), []).append(float(w))
    return sorted(((k, abs(sum(v) / len(v))) for k, v in table.items()), key=lambda p: p[1], reverse=True)
''',
        "tensor_weights": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, torch.as_tensor(coef).detach()):
        table.setdefault(t.lstrip("Ġ"), []).append(w)
    return sorted(((k, sum(v) / len(v)) for k, v in table.items()), key=lambda p: abs(p[1]), reverse=True)
''',
        "sort_then_merge": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in sorted(zip(tokens, (float(x) for x in coef)), key=lambda p: abs(p[1]), reverse=True):
        table.setdefault(t.lstrip("Ġ"), []).append(w)
    return [(k, sum(v) / len(v)) for k, v in table.items()]
''',
        "mean_of_abs": '''
def token_importance(tokens, coef):
    table = {}
    for t, w in zip(tokens, coef):
        table.setdefault(t.lstrip("Ġ"), []).append(float(w))
    return sorted(((k, sum(abs(x) for x in v) / len(v) * (1 if v[0] > 0 else -1)) for k, v in table.items()),
                  key=lambda p: abs(p[1]), reverse=True)
''',
    },
    "top_k_overlap": {
        "divides_by_k": '''
def top_k_overlap(a, b, k):
    def top(e):
        items = e.items() if isinstance(e, dict) else e
        return {w for w, _ in sorted(items, key=lambda p: abs(p[1]), reverse=True)[:k]}
    return len(top(a) & top(b)) / k
''',
        "signed_top_k": '''
def top_k_overlap(a, b, k):
    def top(e):
        items = e.items() if isinstance(e, dict) else e
        return {w for w, _ in sorted(items, key=lambda p: p[1], reverse=True)[:k]}
    A, B = top(a), top(b)
    return len(A & B) / len(A | B)
''',
        "assumes_sorted_lists": '''
def top_k_overlap(a, b, k):
    def top(e):
        items = list(e.items()) if isinstance(e, dict) else list(e)
        return {w for w, _ in items[:k]}
    A, B = top(a), top(b)
    return len(A & B) / len(A | B)
''',
        "lists_only": '''
def top_k_overlap(a, b, k):
    def top(e):
        return {w for w, _ in sorted(e, key=lambda p: abs(p[1]), reverse=True)[:k]}
    A, B = top(a), top(b)
    return len(A & B) / len(A | B)
''',
        "intersection_count": '''
def top_k_overlap(a, b, k):
    def top(e):
        items = e.items() if isinstance(e, dict) else e
        return {w for w, _ in sorted(items, key=lambda p: abs(p[1]), reverse=True)[:k]}
    return float(len(top(a) & top(b)))
''',
        "smallest_k": '''
def top_k_overlap(a, b, k):
    def top(e):
        items = e.items() if isinstance(e, dict) else e
        return {w for w, _ in sorted(items, key=lambda p: abs(p[1]))[:k]}
    A, B = top(a), top(b)
    return len(A & B) / len(A | B)
''',
        # k distinct words instead of the first k entries: a word listed twice (lime's "the") keeps one
        # weight, the last, and the top-k set is refilled with the next word
        "distinct_words_via_dict": '''
def top_k_overlap(a, b, k):
    da, db = dict(a), dict(b)
    A = set(sorted(da, key=lambda w: abs(da[w]), reverse=True)[:k])
    B = set(sorted(db, key=lambda w: abs(db[w]), reverse=True)[:k])
    return len(A & B) / max(len(A | B), 1)
''',
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
