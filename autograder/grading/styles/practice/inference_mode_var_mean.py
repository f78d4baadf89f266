"""accuracy under torch.inference_mode() over index slices of the dataset, moved with torch.as_tensor to the
device of the model's first parameter, restoring the mode with model.train(mode); mc_predict under
inference_mode with torch.var_mean (correction=0) and the flags kept in a list of pairs;
generalization_gap reads history.final."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    mode = model.training
    model.eval()
    try:
        hits = 0
        with torch.inference_mode():
            for start in range(0, len(dataset), batch_size):
                images, labels = dataset[start : start + batch_size]
                device = next(model.parameters()).device
                images = torch.as_tensor(images, device=device)
                labels = torch.as_tensor(labels, device=device)
                hits += (model(images).argmax(-1) == labels).sum().item()
    finally:
        model.train(mode)
    return hits / len(dataset)


# %% generalization_gap
def generalization_gap(history):
    return history.final.train_accuracy - history.final.test_accuracy


# %% mc_predict
def mc_predict(model, x, samples=30):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train(True)
    try:
        with torch.inference_mode():
            passes = torch.stack([model(x) for _ in range(samples)], dim=0)
        var, mean = torch.var_mean(passes, dim=0, correction=0)
        return mean, var.sqrt()
    finally:
        for m, flag in saved:
            m.training = flag
