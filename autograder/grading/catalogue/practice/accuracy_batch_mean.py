"""Averages the per-batch accuracies: right when every batch has the same size, wrong when the last
batch is smaller (its samples weigh more than the others')."""


# %% accuracy
def accuracy(model, dataset, batch_size=1024):
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = []
    try:
        with torch.no_grad():
            for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
                predictions = model(images.to(device)).argmax(dim=1)
                scores.append(float((predictions == labels.to(device)).float().mean()))
    finally:
        model.train(was_training)
    return sum(scores) / len(scores)
