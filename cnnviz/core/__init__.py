"""The engine: layers, loss, model, optimizers. Pure array code on xp (numpy or cupy)."""
