"""Runs the passes in whatever mode the model is in: after model.eval() every pass is identical."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    with torch.no_grad():
        outputs = torch.stack([model(x) for _ in range(samples)])
    return outputs.mean(0), outputs.std(0, correction=0)
