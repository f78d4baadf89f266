"""Feeds the dataset's CPU batches to the model as they come: right on a CPU, but `train()` puts the
model on the GPU when there is one, and then the first forward pass raises a device mismatch."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
                correct += int((model(images).argmax(dim=1) == labels).sum())
    finally:
        model.train(was_training)
    return correct / len(dataset)
