"""Measures accuracy in eval mode but without ``torch.no_grad()``: every forward pass builds an autograd
graph (memory and time for nothing)."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    was_training = model.training
    model.eval()
    correct = 0
    for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
        correct += int((model(images).argmax(dim=1) == labels).sum())
    model.train(was_training)
    return correct / len(dataset)
