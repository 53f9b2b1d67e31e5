"""WTForms for the simple pages. Rules are checked again by the services."""
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):
    username = StringField("用户名或身份证号", validators=[DataRequired("请填写用户名。"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请填写密码。"), Length(max=128)])


class RegisterForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请填写姓名。"), Length(max=30)])
    id_number = StringField("身份证号码", validators=[DataRequired("请填写身份证号码。"), Length(max=18)])
    phone = StringField("手机号码", validators=[DataRequired("请填写手机号码。"), Length(max=11)])
    # Choices of region and division are the regions' (set by the page); the service checks they match.
    region = SelectField("参保地区", validate_choice=False)
    insured_scheme = SelectField("参保险种", choices=[SelectChoice("employee", "职工基本医疗保险"), SelectChoice("resident", "城乡居民基本医疗保险")], default="employee")
    division = SelectField("所在盟市/区县", validate_choice=False)
    # Only 职工 are 在职 or 退休; no default, since the ratio depends on it (城乡居民 are not asked).
    insured_category = SelectField("人员类别", choices=[SelectChoice("", "请选择"), SelectChoice("employed", "在职"), SelectChoice("retired", "退休")],
                                   default="", validate_choice=False)
    password = PasswordField("密码(至少8位;不要用常见密码,也不要用身份证号码或手机号码)", validators=[DataRequired("请设置密码。")])
    password2 = PasswordField("再次输入密码", validators=[DataRequired("请再次输入密码。")])


class ProfileForm(FlaskForm):
    phone = StringField("手机号码", validators=[Optional(), Length(max=11)])
    address = StringField("联系地址", validators=[Optional(), Length(max=200)])
    remote_address = StringField("异地居住地址(长期异地居住时填写)", validators=[Optional(), Length(max=200)])
