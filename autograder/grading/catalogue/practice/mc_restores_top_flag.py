"""Restores only the top module's flag with `model.train(was_training)`, which sets every submodule
to it: right for a model whose modules were all in one mode, wrong for nested modules in mixed modes."""


# %% mc_predict
def mc_predict(model, x, samples=30):
    was_training = model.training
    try:
        model.eval()
        for module in model.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.train()
        with torch.no_grad():
            outputs = torch.stack([model(x) for _ in range(samples)])
        return outputs.mean(0), outputs.std(0, correction=0)
    finally:
        model.train(was_training)
