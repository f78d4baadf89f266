"""Test accuracy minus training accuracy."""


# %% generalization_gap
def generalization_gap(history):
    final = history.epochs[-1]
    return float(final.test_accuracy - final.train_accuracy)
