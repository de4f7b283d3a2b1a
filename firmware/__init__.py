"""What the accelerator is loaded with and who loads it: encoders, quantizers, compiler, runtime."""
