"""accuracy collecting every prediction with torch.cat before comparing, each batch moved to the device of
the model's first parameter, and the mode restored in a finally; mc_predict with the sample standard
deviation (correction=1), dropout switched on by a tuple of every dropout class, and module.train(flag)
to restore each flag."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    was_training = model.training
    device = next(model.parameters()).device
    model.train(False)
    predictions, targets = [], []
    try:
        with torch.no_grad():
            for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False):
                predictions.append(model(images.to(device)).argmax(dim=1))
                targets.append(labels.to(device))
    finally:
        if was_training:
            model.train()
    return float((torch.cat(predictions) == torch.cat(targets)).float().mean())


# %% mc_predict
DROPOUT_TYPES = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def mc_predict(model, x, samples=30):
    flags = [m.training for m in model.modules()]
    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_TYPES):
            m.train()
    with torch.no_grad():
        outs = [model(x) for _ in range(samples)]
    for m, flag in zip(model.modules(), flags):
        m.train(flag)
    stacked = torch.stack(outs)
    return stacked.mean(dim=0), stacked.std(dim=0)
