// Moved to base/expiry.h (the faces convert exptimes too); kept so store code that
// includes this path still builds.
#pragma once

#include "base/expiry.h"
