// placeholder so the library has a source until kernels land
namespace inhouse::tensor {}
