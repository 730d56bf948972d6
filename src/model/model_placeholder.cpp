// placeholder so the library has a source until models land
namespace inhouse::model {}
