"""FPS Back Office core: exact money, the FPS protocol, the processor, the merchant side."""
