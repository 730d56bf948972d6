// audit — being written.
namespace inhouse::audit {}
