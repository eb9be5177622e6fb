// The random stored-format weights of the cpu tests, compiled into this suite too.
#include "cpu/random_weights.cpp"
