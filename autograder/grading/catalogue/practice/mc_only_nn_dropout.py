"""Switches on only the modules that are `nn.Dropout`: `nn.Dropout1d/2d/3d` and `nn.AlphaDropout`
are not subclasses of it and stay off, so a model using them gets std 0."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    flags = {module: module.training for module in model.modules()}
    try:
        model.eval()
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.train()
        with torch.no_grad():
            outputs = torch.stack([model(x) for _ in range(samples)])
        return outputs.mean(0), outputs.std(0, correction=0)
    finally:
        for module, flag in flags.items():
            module.training = flag
