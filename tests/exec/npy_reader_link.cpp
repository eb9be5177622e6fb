// The .npy reader of the cpu tests, compiled into this suite too.
#include "cpu/npy_reader.cpp"
