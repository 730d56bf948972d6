// privacy — being written.
namespace inhouse::privacy {}
