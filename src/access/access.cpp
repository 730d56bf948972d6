// access — being written.
namespace inhouse::access {}
