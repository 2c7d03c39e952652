"""Applications built on the core: the command line, folder batches, reports and benchmarks.
They import the core; the core never imports them."""
