"""Switches the dropout layers on but never calls model.eval(): a model handed in in training mode keeps
batch norm in training mode, which normalises with the batch's statistics and updates the running ones."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    flags = {m: m.training for m in model.modules()}
    try:
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
        with torch.no_grad():
            outputs = torch.stack([model(x) for _ in range(samples)])
        return outputs.mean(0), outputs.std(0, correction=0)
    finally:
        for m, flag in flags.items():
            m.training = flag
