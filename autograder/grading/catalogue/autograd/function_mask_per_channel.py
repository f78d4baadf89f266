"""Draws one mask entry per (sample, feature) of the first two dimensions and broadcasts it over the
rest: right for the 2-dim batches of an MLP, but on a batch of sequences or images every position of a
channel is kept or dropped together."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        lead = tuple(x.shape[:2])
        mask = torch.rand(lead, generator=generator, device=x.device) < 1.0 - p
        mask = mask.reshape(lead + (1,) * (x.dim() - 2)).expand(x.shape).contiguous()
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return x * mask * ctx.scale

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask * ctx.scale, None, None
