"""Leaves the dropout layers in training mode afterwards."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    flags = {m: m.training for m in model.modules()}  # noqa: F841 - recorded, never restored: the mistake
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    with torch.no_grad():
        outputs = torch.stack([model(x) for _ in range(samples)])
    return outputs.mean(0), outputs.std(0, correction=0)
