"""Takes the absolute value of the difference: a gap is a size, the student reasons, but a negative
gap (test above train, as with dropout on in the training measurement) is information."""


# %% generalization_gap
def generalization_gap(history):
    final = history.epochs[-1]
    return abs(final.train_accuracy - final.test_accuracy)
