"""Pre-attention expert prediction (arXiv 2511.10676): per layer, ``logits = W2 · W1 · h`` on
the layer's pre-attention normalized hidden state, trained on recorded routing with a
ranking loss, quantized to the hardware's int8 format, and measured against baselines."""
