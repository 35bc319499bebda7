// Placeholder: kernels land in the kernels work (issue 4).
#include "dqt_kernels.h"
