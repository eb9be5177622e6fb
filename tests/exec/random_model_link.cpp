// The random in-memory model of the cpu tests, compiled into this suite too.
#include "cpu/random_model.cpp"
