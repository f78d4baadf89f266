"""generalization_gap reads the last epoch by index from the list of epochs; accuracy counts hits per
batch with torch.eq(...).sum() into a tensor total on the model's device (found through its buffers and
parameters) and restores the mode saved before eval()."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    previous = model.training
    device = next(iter(model.state_dict().values())).device
    model.eval()
    total = torch.zeros((), dtype=torch.long, device=device)
    with torch.no_grad():
        for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            images, labels = images.to(device), labels.to(device)
            total += torch.eq(model(images).argmax(dim=-1), labels).sum()
    model.train(previous)
    return total.item() / len(dataset)


# %% generalization_gap
def generalization_gap(history):
    last = history.epochs[len(history.epochs) - 1]
    return last.train_accuracy - last.test_accuracy
