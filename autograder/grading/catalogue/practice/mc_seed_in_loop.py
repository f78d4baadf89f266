"""Reseeds the generator before every pass 'for reproducibility': every pass draws the same mask."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    outputs = []
    with torch.no_grad():
        for _ in range(samples):
            torch.manual_seed(0)
            outputs.append(model(x))
    for m, flag in flags.items():
        m.training = flag
    outputs = torch.stack(outputs)
    return outputs.mean(0), outputs.std(0, correction=0)
