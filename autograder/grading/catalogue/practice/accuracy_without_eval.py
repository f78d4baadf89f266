"""Measures accuracy in training mode: dropout is still on."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    correct = 0
    with torch.no_grad():
        for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            correct += int((model(images).argmax(dim=1) == labels).sum())
    return correct / len(dataset)
