"""Runs the Monte Carlo passes with gradients on: every pass builds an autograd graph it never uses."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
        outputs = torch.stack([model(x) for _ in range(samples)])
        return outputs.mean(0).detach(), outputs.std(0, correction=0).detach()
    finally:
        for m, flag in flags.items():
            m.training = flag
