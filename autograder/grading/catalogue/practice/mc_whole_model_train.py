"""Model.train() for the passes: batch norm uses batch statistics and updates its running ones."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    flags = {m: m.training for m in model.modules()}
    model.train()
    with torch.no_grad():
        outputs = torch.stack([model(x) for _ in range(samples)])
    for m, flag in flags.items():
        m.training = flag
    return outputs.mean(0), outputs.std(0, correction=0)
