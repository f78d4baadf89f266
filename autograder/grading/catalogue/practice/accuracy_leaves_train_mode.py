"""Switches back with `model.train()` at the end: a model handed in in evaluation mode comes back in
training mode, with dropout on for whatever the caller does next."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            correct += int((model(images.to(device)).argmax(dim=1) == labels.to(device)).sum())
    model.train()
    return correct / len(dataset)
